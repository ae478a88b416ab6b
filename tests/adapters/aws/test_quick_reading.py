"""The quick reading of a request (``translate_quick``) against the full one (``translate``), on every
operation of the AWS spec.

The adapter reads a request once: quickly when it names one type directly and nothing else, fully
otherwise, whether the type is plain or accelerated. That is only sound if the quick reading, whenever
it answers, answers exactly what the full reading answers (items, counts, paths, choices, resource
ids, nothing unresolved). Requests are generated from each operation's own paths (the members the
spec reads, nested as the paths nest them) with names and counts of every awkward kind.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.adapters.aws._handler import Kept, _snapshot, read_request
from gatekeeper.catalog import default_catalog
from gatekeeper.providers._spec import Operation, sdk_paths
from gatekeeper.providers.aws import BY_NAME, OPERATIONS
from gatekeeper.providers.aws._read import translate, translate_quick
from tests.providers.aws_samples import READS_EXISTING, SAMPLES, plain

CATALOG = default_catalog()
KEYS = sorted(op.key for op in OPERATIONS)
# The rows the quick reading serves (one directly named type, nothing to follow): a sample of each
# must be answered quickly, or the tests below would hold nothing.
QUICK_ROWS = {("ec2", "RunInstances"), ("ec2", "RequestSpotInstances"), ("ec2", "CreateCapacityReservation"),
              ("ec2", "RunScheduledInstances"), ("ec2", "ImportInstance"),
              ("autoscaling", "CreateLaunchConfiguration"), ("sagemaker", "CreateNotebookInstance"),
              ("sagemaker", "UpdateNotebookInstance"), ("sagemaker", "CreateOptimizationJob")}

_names = st.sampled_from(["t3.micro", "p4d.24xlarge", "P5.48XLARGE", " p4d.24xlarge ", "ml.p4d.24xlarge",
                          "ml.t3.medium", "g5.xlarge", "zz9.huge", "p4d", "", "  "])
_counts = st.one_of(st.integers(-3, 50), st.sampled_from([0, 2**40, 10**12, -(2**70), "4", " 7 ", "many", "1e308",
                                                          2.5, math.nan, math.inf, True]))
_scalars = st.one_of(_names, _counts, st.none())
_leaf = st.one_of(
    _scalars,
    st.lists(_names, max_size=3),
    st.fixed_dictionaries({}, optional={"Type": _names, "Count": _counts, "LaunchTemplateId": st.just("lt-1"),
                                        "LaunchTemplateName": st.just("gpu"), "Version": st.just("2"),
                                        "InstanceType": _names}),
)


def _paths(op: Operation) -> list[str]:
    """The members ``op`` reads, one alternative (``|``) and one summand (``+``) at a time."""
    out = {alt.strip() for p in sdk_paths(op) for part in p.split("|") for alt in part.split("+") if alt.strip()}
    return sorted(p.removeprefix("$.") for p in out)


def _place(tree: dict[str, Any], segments: list[str], value: Any) -> None:
    """Put ``value`` at ``segments`` (``Name[]``: a list of one element there) inside ``tree``."""
    name, rest = segments[0], segments[1:]
    iterate = name.endswith("[]")
    name = name.removesuffix("[]")
    if not rest:
        tree[name] = [value] if iterate else value
        return
    node = tree.get(name)
    inner = node[0] if iterate and isinstance(node, list) and node and isinstance(node[0], dict) else node
    if not isinstance(inner, dict):
        inner = {}
        tree[name] = [inner] if iterate else inner
    _place(inner, rest, value)


def _role(path: str) -> str:
    last = path.rsplit(".", 1)[-1].removesuffix("[]").lower()
    if last.endswith("type") and not path.endswith("[]"):  # not AcceleratorTypes[]: attached accelerators
        return "type"
    if last.endswith(("count", "size", "capacity", "quantity")):
        return "count"
    return ""


_TYPED = {"type": _names, "count": _counts}


@st.composite
def requests(draw: st.DrawFn, op: Operation) -> dict[str, Any]:
    """A request of ``op``. Half of them well formed: types and counts usually given and holding a
    name and a number, other members (references, attached accelerators, ids) now and then; the
    other half anything anywhere."""
    params: dict[str, Any] = {}
    typed = draw(st.booleans())
    for path in _paths(op):
        role = _role(path)
        if typed:
            if draw(st.integers(0, 7)) < (6 if role else 1):
                _place(params, path.split("."), draw(_TYPED[role] if role and draw(st.integers(0, 7)) else _leaf))
        elif draw(st.booleans()):
            _place(params, path.split("."), draw(_leaf))
    if draw(st.booleans()):
        params["DryRun"] = draw(st.booleans())  # a member no row reads
    return params


def _referencing(op: Operation) -> dict[str, Any]:
    """A request of ``op`` with every member it reads given: types an accelerated name, counts a
    number, every other member (the references) an id."""
    params: dict[str, Any] = {}
    for path in _paths(op):
        role = _role(path)
        _place(params, path.split("."), "p4d.24xlarge" if role == "type" else 4 if role == "count" else "ref-1")
    return params


def _agree(op: Operation, params: dict[str, Any]) -> bool:
    """Whether the quick reading answered; when it did, that it equals the full reading."""
    quick = translate_quick(op, params)
    if quick is None:
        return False
    assert quick == translate(op, params, None, CATALOG), params
    return True


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0]}.{k[1]}")
def test_the_samples_read_the_same_both_ways(key: tuple[str, str]) -> None:
    op = BY_NAME[key]
    sample = SAMPLES.get(key)
    if sample is None:
        # A row that reads an existing resource has no self-contained sample (its reading is tested
        # against moto elsewhere); the quick reading must never answer for it, even when the request
        # also names an accelerated type directly, since what the resource holds is not in the request.
        assert key in READS_EXISTING, key
        assert translate_quick(op, _referencing(op)) is None
        return
    answered = [_agree(op, sample), _agree(op, plain(sample))]
    assert all(answered) == (key in QUICK_ROWS), answered


def test_every_quick_row_is_known() -> None:
    """A row the quick reading serves that this file does not list would go untested above."""
    served = {op.key for op in OPERATIONS if translate_quick(op, SAMPLES.get(op.key, {})) is not None}
    assert served == QUICK_ROWS


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0]}.{k[1]}")
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_quick_reading_agrees_with_the_full_one(key: tuple[str, str], data: st.DataObject) -> None:
    op = BY_NAME[key]
    _agree(op, data.draw(requests(op)))


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_the_quick_rows_agree_on_many_requests(data: st.DataObject) -> None:
    """The rows the quick reading serves, harder: both readings on hundreds of requests each."""
    op = BY_NAME[data.draw(st.sampled_from(sorted(QUICK_ROWS)))]
    _agree(op, data.draw(requests(op)))


# -- the readings a client keeps (adapters.aws._handler.Kept) ---------------------------------------
def _read_kept(kept: Kept, op: Operation, params: dict[str, Any]) -> Any:
    """What the guard does: the snapshot of the members read is the key when it renders their value."""
    snapshot, plain = _snapshot(op, params)
    return read_request(op, params, CATALOG, None, kept, snapshot if plain else None)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_kept_readings_answer_what_a_fresh_reading_answers(data: st.DataObject) -> None:
    """Call after call on one client, requests drawn from a small pool so that they repeat (values of
    every awkward kind: 1, 1.0, True and "1"; None and absent; nested members), each kept reading equals
    a fresh one (items, what is unresolved, resource ids, whether accelerated)."""
    kept = Kept()
    op = BY_NAME[data.draw(st.sampled_from(sorted(QUICK_ROWS)))]
    pool = data.draw(st.lists(requests(op), min_size=1, max_size=4))
    for _ in range(data.draw(st.integers(2, 12))):
        params = data.draw(st.sampled_from(pool))
        assert _read_kept(kept, op, params) == read_request(op, params, CATALOG, None), params


class _Twin(str):
    """Renders as its value (the same repr) but reads as blank."""

    def strip(self, chars: str | None = None) -> str:
        return ""


def test_a_value_that_only_renders_alike_is_read_afresh() -> None:
    op = BY_NAME[("ec2", "RunInstances")]
    plain_params = {"InstanceType": "p4d.24xlarge", "MinCount": 1, "MaxCount": 2}
    twin_params = {**plain_params, "InstanceType": _Twin("p4d.24xlarge")}
    none_params = {**plain_params, "LaunchTemplate": None}  # present: the quick reading steps aside
    kept = Kept()
    first = _read_kept(kept, op, plain_params)
    assert first[0][0].instance_type == "p4d.24xlarge" and first[3]
    assert _snapshot(op, twin_params)[0] == _snapshot(op, plain_params)[0]  # a key of renderings alone would hit
    for params in (twin_params, none_params, {**plain_params, "MaxCount": True}, {**plain_params, "MaxCount": 2.0}):
        assert _read_kept(kept, op, params) == read_request(op, params, CATALOG, None), params
    assert read_request(op, twin_params, CATALOG, None) != first  # the twin does read otherwise
