"""``gatekeeper serve``: the review console and HTTP decision API, run by uvicorn.

Binds to ``[web] host`` (127.0.0.1 unless configured) and ``[web] port``; ``--host``/``--port``
override them. Put a TLS-terminating proxy in front to serve anyone but this machine (docs/web.md).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, err_console, fail
from gatekeeper.cli._common import config as load

LOOPBACK = ("127.0.0.1", "::1", "localhost")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """Access-log lines must not carry a console login token (``?token=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: [web] host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: [web] port, 8765).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")] = "info",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Serve the review console (/) and the decision API (/v1, spec at /openapi.json)."""
    import uvicorn

    from gatekeeper.errors import GatekeeperError
    from gatekeeper.service import Gatekeeper
    from gatekeeper.web import create_app
    from gatekeeper.web._auth import TokenMap

    cfg = load(config)
    bind = host or cfg.web.host
    chosen_port = cfg.web.port if port is None else port
    try:
        tokens = TokenMap.from_config(cfg.web)
        gk = Gatekeeper(cfg)
        gk.open_state_store()  # a missing or unusable store is refused now, not at the first request
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    # Closed by the app's shutdown: uvicorn re-raises SIGTERM after shutting down, so code after run() may
    # never execute; the audit log's last segment still gets its signed checkpoint.
    app = create_app(gk, tokens=tokens, close_on_shutdown=True)
    shown_port = chosen_port or "PORT"  # 0: any free port; uvicorn prints the one it took
    info: dict[str, Any] = {"url": f"http://{_url_host(bind)}:{shown_port}/", "host": bind, "port": chosen_port,
                            "tokens": tokens.roles(), "loopback_only": bind in LOOPBACK}
    if json_out:
        emit_json(info)
    else:
        console.print(f"[bold]gatekeeper serve[/]: console {info['url']}  API {info['url']}v1  "
                      f"spec {info['url']}openapi.json  metrics {info['url']}metrics", highlight=False)
    if not len(tokens):
        err_console.print("[yellow]warning:[/] no tokens configured (\\[web.tokens] or GATEKEEPER_TOKENS): "
                          "every API call and console page will be refused", highlight=False)
    for name in tokens.short_tokens():
        err_console.print(f"[yellow]warning:[/] the token of {name} is shorter than 16 characters; use a long "
                          "random one (python -c 'import secrets; print(secrets.token_urlsafe(32))')", highlight=False)
    if bind not in LOOPBACK:
        err_console.print(f"[yellow]warning:[/] listening on {bind}, not loopback: serve it only behind a "
                          "TLS-terminating proxy (see docs/web.md)", highlight=False)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    uvicorn.run(app, host=bind, port=chosen_port, log_level=log_level.lower(), server_header=False,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
