"""Azure Functions app (Python v2 programming model): the gatekeeper detective hook.

One function, ``gatekeeper_hook``, triggered by the Event Grid subscription of azuredeploy.json
(``Microsoft.Resources.ResourceWriteSuccess`` for VMs, scale sets and AKS clusters/agent pools).
All logic is in ``gatekeeper.hooks.azure_function``; this file only binds the trigger. A failed
remediation raises, so that Event Grid retries the delivery (docs/hooks.md).
"""

from __future__ import annotations

import azure.functions as func

from gatekeeper.hooks.azure_function import main as gatekeeper_main

app = func.FunctionApp()


@app.function_name(name="gatekeeper_hook")
@app.event_grid_trigger(arg_name="event")
def gatekeeper_hook(event: func.EventGridEvent) -> None:
    gatekeeper_main(event)
