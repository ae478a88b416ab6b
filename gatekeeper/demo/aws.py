"""Demo section: real boto3 calls through ``gatekeeper.aws`` (in-process moto), one blocked, others allowed.

The same client and the same call (``run_instances`` of A100 instances): held for the Singapore customer
whose parent is in China (ExportLicensePending, a case opened), sent for the verified US customer; a
plain instance for the first customer is sent too; a sibling path (an EC2 Fleet selecting A100s by
InstanceRequirements) is held as well. Nothing reaches a cloud: moto answers in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from rich.markup import escape
from rich.table import Table

import gatekeeper
from gatekeeper.demo import DemoContext

REGION = "us-east-1"
AMI = "ami-12c6146b"


@contextmanager
def quiet_moto() -> Iterator[None]:
    """moto loads thousands of sample AMIs by default; the demo needs none."""
    prior = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    try:
        yield
    finally:
        if prior is None:
            os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
        else:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = prior


def _calls(template: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    run = {"ImageId": AMI}
    return [
        ("sg_cn_parent", "run_instances", "2 x p4d.24xlarge (8 x A100 each)",
         {**run, "InstanceType": "p4d.24xlarge", "MinCount": 2, "MaxCount": 2}),
        ("us_verified", "run_instances", "2 x p4d.24xlarge (8 x A100 each)",
         {**run, "InstanceType": "p4d.24xlarge", "MinCount": 2, "MaxCount": 2}),
        ("sg_cn_parent", "run_instances", "4 x t3.micro",
         {**run, "InstanceType": "t3.micro", "MinCount": 4, "MaxCount": 4}),
        ("sg_cn_parent", "create_fleet", "EC2 Fleet, InstanceRequirements AcceleratorNames=[a100]",
         {"Type": "instant",
          "TargetCapacitySpecification": {"TotalTargetCapacity": 2, "DefaultTargetCapacityType": "on-demand"},
          "LaunchTemplateConfigs": [{
              "LaunchTemplateSpecification": {"LaunchTemplateName": template, "Version": "$Latest"},
              "Overrides": [{"InstanceRequirements": {"VCpuCount": {"Min": 8}, "MemoryMiB": {"Min": 16384},
                                                      "AcceleratorNames": ["a100"]}}]}]}),
    ]


def run(ctx: DemoContext) -> None:
    ctx.section("AWS: every boto3 path through gatekeeper.aws, held or sent (in-process moto)")
    ctx.console.print("Adopting it is one line: [bold]import gatekeeper; gatekeeper.aws.install()[/]  "
                      "(here: [bold]gatekeeper.aws.protect(client)[/] on one client)\n")
    table = Table()
    for col in ("customer (acting_for)", "boto3 call", "what", "result"):
        table.add_column(col, overflow="fold")
    blocked: list[ClientError] = []
    with quiet_moto(), mock_aws():
        session = boto3.Session(region_name=REGION, aws_access_key_id="AKIDGATEKEEPERDEMO",
                                aws_secret_access_key="demo")
        session.client("ec2").create_launch_template(LaunchTemplateName="demo-base",
                                                     LaunchTemplateData={"ImageId": AMI})
        ec2 = gatekeeper.aws.protect(session.client("ec2"))
        for role, method, what, params in _calls("demo-base"):
            _, account = ctx.accounts[role]
            profile = ctx.gk.profile("aws", account)
            with gatekeeper.acting_for(provider="aws", account_id=account):
                try:
                    answer = getattr(ec2, method)(**params)
                except ClientError as err:
                    blocked.append(err)
                    code = err.response["Error"]["Code"]
                    case = err.response.get("Gatekeeper", {}).get("case_id")
                    result = f"[red]blocked[/]: {code} (HTTP {err.response['ResponseMetadata']['HTTPStatusCode']})" + (
                        f", case {case}" if case else "")
                else:
                    ids = [i["InstanceId"] for i in answer.get("Instances", [])]
                    result = "[green]sent[/]: " + (f"{len(ids)} instance(s) {', '.join(ids[:2])}" if ids else
                                                   "accepted")
            table.add_row(escape(profile.legal_name or account), f"ec2.{method}", escape(what), result)
    ctx.console.print(table)
    if blocked:
        first = blocked[0]
        ctx.console.print("\nWhat the blocked caller reads ([bold]botocore.exceptions.ClientError[/], "
                          "handled by existing [bold]except ClientError[/] code):")
        ctx.console.print(f"  [dim]{escape(str(first))}[/]")
        ctx.console.print(f"  response['Gatekeeper'] = {first.response['Gatekeeper']}", markup=False,
                          soft_wrap=True)
