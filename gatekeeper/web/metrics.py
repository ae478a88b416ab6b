"""``GET /metrics``: the runtime's Prometheus metrics (gatekeeper.observe), for a reviewer or auditor token.

Scrape it with ``authorization: {credentials_file: ...}`` in the Prometheus job (docs/operations.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from gatekeeper.web._auth import Principal
from gatekeeper.web._deps import api_allowed

router = APIRouter()
Scraper = Annotated[Principal, Depends(api_allowed("read.audit"))]


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _: Scraper) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
