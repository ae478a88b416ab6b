"""CloudWatch embedded metric format (EMF) lines for the Lambda hook: one JSON line per event on stdout.

Lambda sends stdout to CloudWatch Logs, which turns each line into metrics (no API call, no extra
latency). Namespace ``Gatekeeper`` (``GATEKEEPER_EMF_NAMESPACE``); ``GATEKEEPER_EMF=off`` turns it off.

    Events        1 per event, by Hook and Status, and by Hook and Decision
    HookErrors    1 when the event was unreadable or handling it raised (the invocation is retried)
    DurationMs    time spent handling the event

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

DIMENSIONS = [["Hook", "Status"], ["Hook", "Decision"]]
METRICS = [{"Name": "Events", "Unit": "Count"}, {"Name": "HookErrors", "Unit": "Count"},
           {"Name": "DurationMs", "Unit": "Milliseconds"}]


def line(hook: str, result: dict[str, Any] | None, error: BaseException | None, duration_ms: float,
         *, now_ms: int | None = None) -> dict[str, Any]:
    """The EMF object for one handled event (``result`` is the hook's answer; None when it raised)."""
    status = "raised" if error is not None else str((result or {}).get("status") or "unknown")
    out: dict[str, Any] = {
        "_aws": {"Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
                 "CloudWatchMetrics": [{"Namespace": os.environ.get("GATEKEEPER_EMF_NAMESPACE", "Gatekeeper"),
                                        "Dimensions": DIMENSIONS, "Metrics": METRICS}]},
        "Hook": hook, "Status": status, "Decision": str((result or {}).get("decision") or "none"),
        "Events": 1, "HookErrors": 1 if error is not None or status == "error" else 0,
        "DurationMs": round(duration_ms, 3),
    }
    for key in ("event_id", "decision_id", "case_id"):  # searchable in Logs Insights, not dimensions
        if result and result.get(key):
            out[key] = result[key]
    if error is not None:
        out["error"] = f"{type(error).__name__}: {error}"[:500]
    return out


def measured(hook: str, handle: Callable[[Any], dict[str, Any]], event: Any) -> dict[str, Any]:
    """``handle(event)``, with its EMF line written to stdout (also when it raises, then re-raised)."""
    if os.environ.get("GATEKEEPER_EMF", "").lower() in ("off", "0", "false"):
        return handle(event)
    t0 = time.perf_counter()
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    try:
        result = handle(event)
        return result
    except BaseException as exc:
        error = exc
        raise
    finally:
        try:
            sys.stdout.write(json.dumps(line(hook, result, error, (time.perf_counter() - t0) * 1000),
                                        default=str) + "\n")
            sys.stdout.flush()
        except Exception:  # metrics never change what the hook returns or raises
            pass
