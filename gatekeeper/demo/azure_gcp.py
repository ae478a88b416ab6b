"""Demo section: one blocked Azure call and one blocked Google Cloud call, through the real SDK clients.

Both clouds are local stand-ins started in-process on 127.0.0.1 (an ARM stand-in over HTTPS with a
throw-away certificate, a Compute Engine stand-in over HTTP): nothing reaches a real cloud. The
China-owned customer's GPU calls are held (a case is opened) and never reach the stand-in; the same
calls for the verified US customer go through.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from gatekeeper.demo import DemoContext

AZURE_SIZE = "Standard_ND96asr_v4"  # 8 x A100
GCP_TYPE = "a3-highgpu-8g"          # 8 x H100


def _azure(ctx: DemoContext, table: Table) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute import models as cm

    import gatekeeper
    from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken

    with ArmStandIn() as arm:
        for role in ("sg_cn_parent", "us_verified"):
            sub = ctx.accounts_by_cloud[role]["azure"]
            client = ComputeManagementClient(StaticToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
                                             per_call_policies=[gatekeeper.azure.policy(ctx.gk)], polling_interval=0)
            ss = cm.VirtualMachineScaleSet(location="southeastasia", sku=cm.Sku(name=AZURE_SIZE, capacity=2))
            call = f"virtual_machine_scale_sets.begin_create_or_update({AZURE_SIZE} x 2)"
            try:
                client.virtual_machine_scale_sets.begin_create_or_update("demo-rg", f"train-{role}", ss).result()
                result = "[green]created[/]"
            except HttpResponseError as err:
                code = err.error.code if err.error else "?"
                case = getattr(err, "case_id", None)
                result = f"[magenta]HttpResponseError {err.status_code} {code}[/] (case {case})"
            arrived = len([r for r in arm.arrived("PUT") if f"train-{role}".lower() in r.path.lower()])
            table.add_row("Azure", _name(ctx, "azure", sub), call, result, str(arrived))


def _gcp(ctx: DemoContext, table: Table) -> None:
    from google.api_core.exceptions import PermissionDenied
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    import gatekeeper
    from gatekeeper.adapters.gcp.testing import GcpStandIn

    with GcpStandIn() as gcp:
        for role in ("sg_cn_parent", "us_verified"):
            project = ctx.accounts_by_cloud[role]["gcp"]
            client = compute_v1.InstancesClient(credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                                                client_options={"api_endpoint": gcp.url})
            gatekeeper.gcp.protect(client, ctx.gk)
            zone = "asia-southeast1-b"
            instance = compute_v1.Instance(name=f"train-{role}", machine_type=f"zones/{zone}/machineTypes/{GCP_TYPE}")
            call = f"instances.insert({GCP_TYPE})"
            try:
                client.insert(project=project, zone=zone, instance_resource=instance)
                result = "[green]inserted[/]"
            except PermissionDenied as err:
                result = f"[magenta]PermissionDenied {err.reason}[/] (case {getattr(err, 'case_id', None)})"
            arrived = len([r for r in gcp.arrived("POST") if f"/projects/{project}/" in r.path])
            table.add_row("Google Cloud", _name(ctx, "gcp", project), call, result, str(arrived))


def _name(ctx: DemoContext, provider: str, account: str) -> str:
    profile: Any = ctx.gk.profile(provider, account)
    return str(profile.legal_name or account)


def run(ctx: DemoContext) -> None:
    ctx.section("Azure and Google Cloud: the real SDK clients, gated")
    table = Table()
    for col in ("cloud", "customer", "SDK call", "result", "requests that reached the cloud"):
        table.add_column(col, overflow="fold")
    _azure(ctx, table)
    _gcp(ctx, table)
    ctx.console.print(table)
    ctx.console.print("[dim]Local stand-ins on 127.0.0.1 played ARM and Compute Engine; a held call never "
                      "reached them. Each hold opened a case (gatekeeper cases list).[/]")
