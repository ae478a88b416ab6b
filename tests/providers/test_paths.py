"""The one path reader: exact (SDK) and loose (audit event) modes, alternatives, roots, numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.errors import InvalidInputError
from gatekeeper.providers import _paths as P

LOOSE = P.Mode(ignore_case=True, bare_lists=True, list_wrappers=("items", "item"))


def test_exact_reads_with_locations_and_lists_only() -> None:
    params = {"LaunchTemplateConfigs": [{"Overrides": [{"InstanceType": "p4d.24xlarge"}, {"InstanceType": None}]}],
              "Bare": {"InstanceType": "x"}}
    assert P.read(params, "LaunchTemplateConfigs[].Overrides[].InstanceType") == [
        ("LaunchTemplateConfigs[0].Overrides[0].InstanceType", "p4d.24xlarge")]
    assert P.read(params, "Bare[].InstanceType") == []  # a mapping where a list belongs: not there
    assert P.read(params, "launchTemplateConfigs") == []  # exact names only
    assert P.first({"A": {"B": "v"}}, "C|A.B") == "v"


def test_root_paths_read_from_the_root() -> None:
    root = {"Limits": {"Max": 4}, "Group": {"Count": 2}}
    assert P.first(root["Group"], "$.Limits.Max", root) == 4
    assert P.read(root["Group"], "Count", root, where="Group") == [("Group.Count", 2)]


def test_loose_mode_matches_cloudtrail_shapes() -> None:
    detail = {"requestParameters": {"instancesSet": {"items": [{"maxCount": 3}]}, "one": {"item": {"a": 1}},
                                    "bare": {"a": 2}}}
    assert P.values(detail, "RequestParameters.InstancesSet.items[].MaxCount", mode=LOOSE) == [3]
    assert P.values(detail, "requestParameters.instancesSet[].maxCount", mode=LOOSE) == [3]
    assert P.values(detail, "requestParameters.one[].a", mode=LOOSE) == [1]
    assert P.values(detail, "requestParameters.bare[].a", mode=LOOSE) == [2]


def test_two_spellings_with_different_values_are_an_input_error() -> None:
    with pytest.raises(P.AmbiguousPath) as caught:
        P.first({"instanceType": "t3.micro", "InstanceType": "p5.48xlarge"}, "INSTANCETYPE", mode=LOOSE)
    assert isinstance(caught.value, InvalidInputError) and caught.value.field == "INSTANCETYPE"
    # the same value under two spellings is not ambiguous; an exact match wins without a scan
    assert P.first({"a": 1, "A": 1}, "a", mode=LOOSE) == 1


def test_bad_paths_are_refused_when_compiled() -> None:
    for bad in ("A..B", "A[0]", "A[]]"):
        with pytest.raises(ValueError):
            P.compile_path(bad)


@pytest.mark.parametrize("value, expected", [
    (3, 3.0), ("7", 7.0), (" 2 ", 2.0), (2.5, 2.5), (True, None), (None, None), ("x", None), (float("nan"), None),
    (float("inf"), None), ("1e999", None), ("9" * 5000, None), (10 ** 5000, None), ([], None),
], ids=lambda v: type(v).__name__)
def test_number_never_raises(value: object, expected: float | None) -> None:
    assert P.number(value) == expected


@pytest.mark.parametrize("value", ["9" * 5000, 10 ** 5000, 1e308, -1, 2.5, "abc", None, True, {"a": 1}],
                         ids=lambda v: type(v).__name__)
def test_whole_names_the_field_and_never_shows_the_whole_value(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        P.whole(value, "maxCount")
    assert caught.value.field == "maxCount"
    assert len(str(caught.value)) < 200


def test_whole_accepts_counts() -> None:
    assert P.whole("12", "n") == 12 and P.whole(4.0, "n") == 4 and P.whole(0, "n") == 0


def test_deep_merge_applies_over_and_replaces_exclusive_members() -> None:
    base = {"LaunchTemplate": {"LaunchTemplateId": "lt-1"}, "MaxSize": 1, "Tags": [1]}
    merged = P.deep_merge(base, {"LaunchConfigurationName": "lc", "MaxSize": 4, "Tags": None},
                          exclusive=("LaunchTemplate", "LaunchConfigurationName"))
    assert merged == {"LaunchConfigurationName": "lc", "MaxSize": 4, "Tags": [1]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "A", "items", "b"]), inner,
                                                                 max_size=3),
    max_leaves=12)


@given(json_values, st.sampled_from(["a", "a[].b", "A.items[].b|b", "$.a[]", "items[].a.b[]"]))
def test_reading_any_json_never_raises_except_on_ambiguity(data: object, path: str) -> None:
    for mode in (P.EXACT, LOOSE):
        try:
            P.read(data, path, data, mode=mode)
            P.text(data, path, mode=mode)
            P.strings(data, path, mode=mode)
        except P.AmbiguousPath:
            assert mode is LOOSE
