"""Demo section, first: the headline story in one boto3 call made twice.

A customer headquartered in China asks for H100 instances through boto3 (gatekeeper.aws protects the
client; moto answers in-process). The call is held: ``ExportLicensePending``, naming the case. A
compliance reviewer approves the case, recording the government licence. The same call then goes
through and draws the licence down, and the audit log, which recorded every step before it
happened, verifies.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from rich.markup import escape

import gatekeeper
from gatekeeper.demo import DemoContext
from gatekeeper.demo.aws import AMI, REGION, quiet_moto
from gatekeeper.model import CustomerProfile
from gatekeeper.workflow import workflow_of

CUSTOMER = CustomerProfile("aws", "888888888888", "Shenzhen Hanhai Compute Co., Ltd.", "CN", "CN", "CN", "verified")
REVIEWER = "export-compliance@provider.example"
LICENCE = "D-2026-118204"
CALL = {"ImageId": AMI, "InstanceType": "p5.48xlarge", "MinCount": 1, "MaxCount": 1}


def run(ctx: DemoContext) -> None:
    ctx.section("The headline: a China-headquartered customer asks for H100s through boto3")
    gk, wf, out = ctx.gk, workflow_of(ctx.gk), ctx.console
    gk.store.profiles.put_profiles([CUSTOMER])
    out.print(f"Customer on file: [bold]{CUSTOMER.legal_name}[/] (aws {CUSTOMER.account_id}), located, "
              "headquartered and owned in China; KYC verified.\n"
              "Call: [bold]ec2.run_instances(InstanceType='p5.48xlarge')[/], one instance with 8 H100 GPUs, "
              "from a boto3 client protected by [bold]gatekeeper.aws.protect(client)[/].\n", highlight=False)
    with quiet_moto(), mock_aws():
        session = boto3.Session(region_name=REGION, aws_access_key_id="AKIDGATEKEEPERDEMO",
                                aws_secret_access_key="demo")
        ec2 = gatekeeper.aws.protect(session.client("ec2"))
        with gatekeeper.acting_for(provider="aws", account_id=CUSTOMER.account_id):
            try:
                ec2.run_instances(**CALL)
            except ClientError as err:
                held = err
            else:
                out.print("[red]expected the call to be held; stopping this section[/]")
                return
            case_id = held.response["Gatekeeper"]["case_id"]
            out.print(f"a) [magenta]held[/]: botocore ClientError [bold]{held.response['Error']['Code']}[/] "
                      f"(HTTP {held.response['ResponseMetadata']['HTTPStatusCode']}), the caller reads:")
            out.print(f"   [dim]{escape(held.response['Error']['Message'])}[/]")

            case = wf.get_case(case_id)
            basis = "; ".join(dict.fromkeys(r.citation for r in case.rules())) or "(no rule recorded)"
            out.print(f"b) the reviewer's queue shows case [bold]{case_id}[/]: {case.customer}, "
                      f"{case.totals().describe()}; legal basis {basis}.", highlight=False)

            _, licence = wf.approve(case_id, reviewer=REVIEWER, licence_number=LICENCE,
                                    expires=wf.today() + timedelta(days=365), quantity=16,
                                    conditions="end use: model training; no re-export")
            assert licence is not None  # one approval is required in the demo configuration
            out.print(f"c) {REVIEWER} approves it, recording licence [bold]{licence.number}[/]: "
                      f"{licence.scope.describe()}, {licence.quantity:g} accelerators, valid to "
                      f"{licence.valid_until}.", highlight=False)

            answer = ec2.run_instances(**CALL)
            drawn = wf.get_licence(LICENCE)
            out.print(f"d) the same call again: [green]sent[/], instance {answer['Instances'][0]['InstanceId']} "
                      f"launched; licence {LICENCE} drawn down to {drawn.remaining:g} of {drawn.quantity:g}.",
                      highlight=False)

    from gatekeeper.audit import local_directory
    from gatekeeper.audit.verify import verify_log
    from gatekeeper.stores.audit_trust import trust_from_config

    gk.close_audit()  # seal the open segment with its signed checkpoint, as a restart would
    # Verified as `gatekeeper audit verify` does: against the key pinned in the store and the witness.
    trust = trust_from_config(gk.config)
    try:
        report = verify_log(local_directory(gk.config.audit.url, Path(gk.config.base_dir)), trust=trust)
    finally:
        trust.close()
    state = ("[green]intact[/]" if report.ok else f"[red]FAILED[/]: {report.problem}" if report.problem
             else f"[yellow]unverified[/]: {report.unverified_because}")
    out.print(f"e) the audit log, each record written before its step took effect: {state}, "
              f"{report.records} records, signed.", highlight=False)
    out.print(f"\n[dim]Work this case in the console: gatekeeper serve --config {ctx.config_path}, then open "
              f"http://127.0.0.1:8765/?token={ctx.reviewer_token}[/]", highlight=False)
