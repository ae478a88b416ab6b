"""``gatekeeper audit summary`` / ``audit query`` import only what they use (start-up is most of their cost)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer._click import Context

from gatekeeper.audit import decision_record
from gatekeeper.audit._format import list_segments
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.review import AuditReader, Filters, parse_when
from gatekeeper.cli.main import GROUPS, _LazyGroup
from tests.audit.conftest import index_every, make_decision, open_log
from tests.audit.test_review import generate

PROBE = """
import json, sys
from gatekeeper.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
# What a review command that prints JSON must not import: the configuration, the workflow and
# structlog (no --config, nothing logged), the writer's side of the audit package (the writer, keys,
# cryptography, the record schema's model), typer's pydantic conversion, and rich (no table drawn).
NOT_ON_THE_READ_PATH = ("gatekeeper.config", "gatekeeper.workflow", "structlog", "gatekeeper.cli.cases",
                        "gatekeeper.cli.check", "gatekeeper.audit._writer", "gatekeeper.audit._keys",
                        "gatekeeper.audit.witness", "gatekeeper.audit.record", "cryptography", "pydantic",
                        "typer._adapters", "rich")


def _probe(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "GATEKEEPER_CONFIG": ""}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    result: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    result["stdout"], result["stderr"] = proc.stdout, proc.stderr
    return result


def _loaded(out: dict[str, object], names: tuple[str, ...]) -> list[str]:
    modules = set(out["modules"])  # type: ignore[call-overload]
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_audit_summary_from_a_directory_loads_no_config_workflow_or_structlog(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision()))
    out = _probe("audit", "summary", "--from", str(tmp_path / "audit"), "--json")
    assert out["code"] in (0, None) and json.loads(str(out["stdout"]))["total"] == 1
    assert _loaded(out, NOT_ON_THE_READ_PATH) == []


def test_top_level_help_still_lists_every_group() -> None:
    from gatekeeper.cli.main import COMMANDS, GROUPS

    out = _probe("--help")
    for name in (*COMMANDS, *GROUPS):
        assert name in str(out["stdout"]), name


@pytest.fixture(scope="module")
def review_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Closed segments with their sidecars (footers with groups) and an open segment, as in production."""
    directory = tmp_path_factory.mktemp("lazy") / "audit"
    with FileAuditLog(directory, signer=None, segment_max_bytes=30_000, sidecars=False) as log:
        for d in generate(120):
            log.append(decision_record(d))
    segments, checkpoints = list_segments(directory)
    checkpoints[max(checkpoints)].unlink()  # the last segment stays open
    closed = [(segments[i], checkpoints[i]) for i in sorted(checkpoints) if i != max(checkpoints)]
    assert len(index_every(closed)) == len(closed) >= 2  # small segments: write_missing would skip them
    return directory


def test_summary_and_query_read_sidecars_without_the_writer_pydantic_rich_or_the_duckdb_package(
        review_log: Path) -> None:
    since, until = "2025-03-10", "2025-03-14T12:00:00+00:00"
    summary = _probe("audit", "summary", "--from", str(review_log), "--json")
    query = _probe("audit", "query", "--from", str(review_log), "--since", since, "--until", until,
                   "--limit", "7", "--json")
    flt = Filters(since=parse_when(since), until=parse_when(until, end=True))
    with AuditReader(review_log) as reader:
        assert reader.sidecars and reader.files  # both kinds of segment are read
        expected_summary = reader.summary(Filters())
        expected_rows, expected_total = reader.query(flt, limit=7), reader.count(flt)
    assert summary["code"] in (0, None) and json.loads(str(summary["stdout"])) == json.loads(
        json.dumps(expected_summary, default=str))
    assert query["code"] in (0, None) and json.loads(str(query["stdout"])) == json.loads(
        json.dumps({"total": expected_total, "records": expected_rows}, default=str))
    assert len(expected_rows) == 7 and expected_total > 7
    # DuckDB's engine module is used alone when it can be (duckdb 2.x); the package's Python is not needed.
    absent = (*NOT_ON_THE_READ_PATH, "duckdb") if importlib.util.find_spec("_duckdb") else NOT_ON_THE_READ_PATH
    for out in (summary, query):
        assert _loaded(out, absent) == []


def test_a_table_and_an_error_still_use_rich(review_log: Path) -> None:
    table = _probe("audit", "summary", "--from", str(review_log))
    assert table["code"] in (0, None) and "by decision" in str(table["stdout"]) and _loaded(table, ("rich",))
    bad = _probe("audit", "query", "--from", str(review_log), "--decision", "maybe")
    assert bad["code"] == 1 and "error: field 'decision': unknown decision 'maybe'" in str(bad["stderr"])
    assert _loaded(bad, ("rich",))


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_a_lazy_group_is_the_group_typer_builds(group: str) -> None:
    """Same commands in the same order, same parameters, same help, built only when used."""
    app = importlib.import_module(GROUPS[group]).app
    eager, lazy = typer.main.get_group(app), _LazyGroup.of(app)
    first = next(iter(eager.commands))
    assert lazy.get_command(Context(lazy), first) is not None
    assert list(lazy.commands) == [first] and len(lazy.pending) == len(eager.commands) - 1
    assert lazy.list_commands(Context(lazy)) == list(eager.commands) and not lazy.pending
    for name, cmd in eager.commands.items():
        other = lazy.commands[name]
        assert [(p.name, p.opts, p.required, p.default, p.help) for p in cmd.params] == \
               [(p.name, p.opts, p.required, p.default, p.help) for p in other.params]
        assert (cmd.help, cmd.short_help, cmd.hidden) == (other.help, other.short_help, other.hidden)
    for attr in ("help", "no_args_is_help", "name", "hidden"):
        assert getattr(lazy, attr) == getattr(eager, attr), attr


def test_a_mistyped_command_is_still_told_the_close_ones() -> None:
    out = _probe("audit", "sumary")
    assert out["code"] == 2 and "Did you mean 'summary'?" in str(out["stderr"])
