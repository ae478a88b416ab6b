"""Pack parsing: libyaml's parser (the fast path) and PyYAML's own give the same packs and lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from gatekeeper.errors import PolicyError
from gatekeeper.policy import loader, parse_pack, shipped_policies_dir
from tests.policy.test_loader import GOOD  # rule r1 starts on line 7, its decision on line 8

needs_libyaml = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "libyaml":
        if not getattr(yaml, "__with_libyaml__", False):
            pytest.skip("PyYAML without libyaml")
        assert loader._Loader is loader.CPackLoader
    else:
        monkeypatch.setattr(loader, "_Loader", loader.PackLoader)
    yield request.param


def _marks(node: yaml.Node, out: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out.append((type(node).__name__, node.tag, node.start_mark.line, node.start_mark.column, node.end_mark.line))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _marks(k, out)
            _marks(v, out)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _marks(v, out)
    else:
        out[-1] += (node.value,)
    return out


@needs_libyaml
@pytest.mark.parametrize("pack", sorted(p.name for p in shipped_policies_dir().glob("*.yaml")))
def test_shipped_packs_parse_alike(pack: str) -> None:
    text = (shipped_policies_dir() / pack).read_text(encoding="utf-8")
    node, data = loader._parse(text)
    assert data == yaml.load(text, Loader=loader.PackLoader)  # PackLoader is a SafeLoader
    py_node = yaml.compose(text, Loader=loader.PackLoader)
    assert node is not None and py_node is not None
    assert _marks(node, []) == _marks(py_node, [])


def test_norway_on_and_yaml_12_booleans(parser: str) -> None:
    _, data = loader._parse("a: NO\nb: on\nc: yes\nd: off\ne: true\nf: FALSE\ng: 2024-06-01\nh: '07'\n")
    assert data["a"] == "NO" and data["b"] == "on" and data["c"] == "yes" and data["d"] == "off"
    assert data["e"] is True and data["f"] is False
    assert str(data["g"]) == "2024-06-01" and data["h"] == "07"


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("decision: pending", "decision: maybe", 8, "rules.0.decision"),
        ("customer: {any_country_in: [D:5]}", "customer: {any_country: [D:5]}", 13,
         "rules.0.when.customer.any_country"),
        ("citation: c1", "citation: ''", 9, "rules.0.citation"),
    ],
)
def test_validation_errors_name_the_same_line(parser: str, old: str, new: str, line: int, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_pack(GOOD.replace(old, new), "bad.yaml")
    assert (info.value.line, info.value.field, info.value.rule) == (line, field, "r1")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (GOOD + "  - id: [unclosed\n", 15),  # a flow sequence never closed: found at the end
        ("id: x\nversion: '1\n", 3),  # a quoted scalar never closed
        ("id: x\n---\nid: y\n", 2),  # two documents
        ("id: x\ntitle: \x07\n", 2),  # a character YAML does not allow (the reader's position gives the line)
    ],
)
def test_bad_yaml_is_a_policy_error(parser: str, text: str, line: int | None) -> None:
    with pytest.raises(PolicyError, match="not valid YAML") as info:
        parse_pack(text, "bad.yaml")
    assert info.value.file == "bad.yaml"
    assert info.value.line == line


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a list\n", "just text\n"])
def test_a_pack_that_is_not_a_mapping_is_refused(parser: str, text: str) -> None:
    with pytest.raises(PolicyError, match="must be a mapping"):
        parse_pack(text, "x.yaml")


def test_good_pack_parses_with_either(parser: str) -> None:
    pack = parse_pack(GOOD, "good.yaml")
    assert pack.id == "test-pack" and pack.rules[0].when.customer is not None
    assert pack.rules[0].when.customer.any_country_in == ["D:5"]
