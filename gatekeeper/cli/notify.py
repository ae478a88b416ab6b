"""``gatekeeper notify``: send the reminders due now (for cron), or a test message on every channel."""

from __future__ import annotations

import typer

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, opened

app = typer.Typer(help="Reviewers' notifications (webhook, e-mail, SNS) configured in [notify].",
                  no_args_is_help=True)


@app.command("scan")
def scan(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Send the reminders due now: cases near their deadline, licences near expiry or nearly drawn down."""
    from gatekeeper import notify

    with opened(config, as_json=json_out) as gk:
        notifier = notify.notifier_for(gk)
        if notifier is None:
            fail("no notification channel is configured ([notify] webhooks, email or sns)", as_json=json_out)
        notify.scan(gk)
        done = notifier.flush(timeout=120)
        result = {"delivered": notifier.delivered, "failed": notifier.failed, "finished": done}
    if json_out:
        emit_json(result)
    else:
        console.print(f"{result['delivered']} delivered, {result['failed']} failed"
                      + ("" if done else " (still sending after 120 s)"), highlight=False)
    if result["failed"] or not done:
        raise typer.Exit(1)


@app.command("test")
def test(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Send a test message on every configured channel, once, without retries; report each."""
    from gatekeeper.notify.events import Notification
    from gatekeeper.notify.senders import senders

    with opened(config, as_json=json_out) as gk:
        cfg = gk.config.notify
        try:
            channels = senders(cfg)
        except ValueError as exc:
            fail(str(exc), as_json=json_out)
        n = Notification(kind="case.opened", key="test", subject="gatekeeper test message",
                         text="A test of the notification channels; nothing to review.",
                         url=cfg.console_url, at=gk.clock())
    if not channels:
        fail("no notification channel is configured ([notify] webhooks, email or sns)", as_json=json_out)
    results = {}
    for s in channels:
        try:
            s.send(n)
            results[s.name] = "ok"
        except Exception as exc:
            results[s.name] = f"{type(exc).__name__}: {exc}"
    if json_out:
        emit_json(results)
    else:
        for name, r in results.items():
            console.print(f"{name}: " + ("[green]ok[/]" if r == "ok" else f"[red]{r}[/]"), highlight=False)
    if any(r != "ok" for r in results.values()):
        raise typer.Exit(1)
