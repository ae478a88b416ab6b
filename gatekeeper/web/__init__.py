"""The review console and HTTP decision API (``gatekeeper serve``): FastAPI + server-rendered pages.

    create_app(gatekeeper)   the ASGI app around one Gatekeeper runtime (``/v1`` API, console at ``/``)

See docs/web.md for the endpoints, roles and tokens, and the security notes.
"""

from __future__ import annotations

from gatekeeper.web.app import create_app

__all__ = ["create_app"]
