"""gatekeeper._log: module loggers that load structlog on first use and obey its configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from gatekeeper._log import LazyLogger, get_logger


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    # ``gatekeeper`` (cli/main.py) configures structlog for the process (WARNING and up); a CLI test run
    # before these in the same worker would filter the info lines they log.
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def test_capture_logs_sees_a_lazy_logger() -> None:
    log = get_logger("gatekeeper.test")
    with capture_logs() as logs:
        log.info("thing.done", n=3)
        log.warning("thing.odd", why="because")
    assert logs == [
        {"event": "thing.done", "n": 3, "log_level": "info"},
        {"event": "thing.odd", "why": "because", "log_level": "warning"},
    ]


def test_configuration_made_after_first_use_still_applies() -> None:
    log = get_logger("gatekeeper.test")
    seen: list[dict[str, object]] = []

    def keep(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> str:
        seen.append(dict(event_dict))
        return "kept"

    with capture_logs():
        log.info("first")  # binds the proxy to structlog's logger
    try:
        structlog.configure(processors=[keep], logger_factory=structlog.ReturnLoggerFactory())
        assert log.info("second", k="v") == "kept"
        assert log.bind(extra=1).error("third") == "kept"
    finally:
        structlog.reset_defaults()
    assert seen == [{"event": "second", "k": "v"}, {"event": "third", "extra": 1}]


def test_unknown_attribute_is_an_attribute_error() -> None:
    log = get_logger("gatekeeper.test")
    with pytest.raises(AttributeError):
        log.no_such_method_on_a_logger  # noqa: B018 - the lookup is the test


def test_repr_says_whether_structlog_was_asked() -> None:
    log = LazyLogger("gatekeeper.test")
    assert "not loaded" in repr(log)
    with capture_logs():
        log.debug("x")
    assert "bound" in repr(log) and "gatekeeper.test" in repr(log)


def test_importing_the_hook_modules_does_not_import_structlog() -> None:
    # A fresh interpreter: this test process has structlog loaded already.
    code = ("import json, sys\nimport gatekeeper.hooks.aws_lambda, gatekeeper.service, gatekeeper.audit\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('structlog', 'rich'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _child(code: str, **env: str) -> dict[str, object]:
    from gatekeeper._log import FUNCTION_HOST_VARS

    # Whatever another test left in this process's environment (functions-framework sets FUNCTION_TARGET)
    # must not make the child a function host.
    base = {k: v for k, v in os.environ.items() if k not in FUNCTION_HOST_VARS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**base, **env})
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["stdout"] = out.stdout
    return result


_LOG_AN_ERROR = """
import json, sys
from gatekeeper._log import get_logger
log = get_logger("gatekeeper.test")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("thing.failed", n=1)
rich_after_structlog = "rich" in sys.modules
import rich.console  # still importable afterwards
print(json.dumps({"rich_after_structlog": rich_after_structlog, "rich_now": rich.console.__name__}))
"""


def test_in_a_function_host_an_exception_is_logged_as_plain_text_without_rich() -> None:
    for var in ("AWS_LAMBDA_FUNCTION_NAME", "FUNCTIONS_WORKER_RUNTIME"):
        r = _child(_LOG_AN_ERROR, **{var: "gatekeeper-hook"})
        assert r["rich_after_structlog"] is False, var
        assert r["rich_now"] == "rich.console"
        line = json.loads(str(r["stdout"]).splitlines()[0])
        # The event and a plain-text traceback (rich draws boxes, and prints the frames' locals).
        assert line["event"] == "thing.failed" and line["level"] == "error" and line["n"] == 1
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert "ZeroDivisionError" in line["exception"] and "╭" not in line["exception"]


def test_elsewhere_structlog_is_imported_as_it_is() -> None:
    r = _child(_LOG_AN_ERROR)
    assert r["rich_after_structlog"] is True
    assert "thing.failed" in str(r["stdout"]) and "╭" in str(r["stdout"])  # rich's traceback, with locals


def test_a_structlog_imported_before_is_left_alone_in_a_function_host() -> None:
    code = "import structlog, sys\n" + _LOG_AN_ERROR
    r = _child(code, AWS_LAMBDA_FUNCTION_NAME="gatekeeper-hook")
    assert r["rich_after_structlog"] is True


_LOG_LINES = """
import json, sys
from gatekeeper._log import get_logger
log = get_logger("gatekeeper.test")
log.debug("hidden.by.default")
log.bind(case_id="case-1").info("thing.done", n=3, when=__import__("datetime").date(2026, 1, 2))
log.warning("thing.odd")
print(json.dumps({"structlog": sorted(m for m in sys.modules if m.split('.')[0] in ('structlog', 'rich', 'asyncio'))}))
"""


def test_in_a_function_host_events_are_json_lines_without_structlog() -> None:
    for var in ("AWS_LAMBDA_FUNCTION_NAME", "FUNCTIONS_WORKER_RUNTIME", "FUNCTION_TARGET"):
        r = _child(_LOG_LINES, **{var: "gatekeeper-hook"})
        assert r["structlog"] == [], var
        lines = [json.loads(x) for x in str(r["stdout"]).splitlines()[:-1]]
        assert [x["event"] for x in lines] == ["thing.done", "thing.odd"]
        done = lines[0]
        assert done["level"] == "info" and done["severity"] == "INFO" and done["logger"] == "gatekeeper.test"
        assert done["case_id"] == "case-1" and done["n"] == 3 and done["when"] == "2026-01-02"


def test_the_function_host_level_is_configurable() -> None:
    r = _child(_LOG_LINES, AWS_LAMBDA_FUNCTION_NAME="x", GATEKEEPER_LOG_LEVEL="debug")
    assert [json.loads(x)["event"] for x in str(r["stdout"]).splitlines()[:-1]] == [
        "hidden.by.default", "thing.done", "thing.odd"]
    r = _child(_LOG_LINES, AWS_LAMBDA_FUNCTION_NAME="x", GATEKEEPER_LOG_LEVEL="warning")
    assert [json.loads(x)["event"] for x in str(r["stdout"]).splitlines()[:-1]] == ["thing.odd"]
