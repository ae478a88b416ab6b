"""Cloud Run function (functions-framework): the gatekeeper detective hook for Google Cloud.

One function, ``gatekeeper_hook``, triggered by the Eventarc triggers of main.tf (Cloud Audit Logs,
Admin Activity, for each call of the Google Cloud provider spec). All logic is in
``gatekeeper.hooks.gcp_function``; this file only binds the trigger. A failed remediation raises, so
that Eventarc retries the delivery (docs/hooks.md).
"""

from __future__ import annotations

from typing import Any

import functions_framework

from gatekeeper.hooks.gcp_function import handle


@functions_framework.cloud_event
def gatekeeper_hook(cloud_event: Any) -> None:
    handle(cloud_event)
