"""Every chip row's class recomputed from its figures, independently of classify.py, and the TF32 effect.

The thresholds and bit lengths are written out here from 88 FR 73458 (ECCN 3A090) rather than imported,
so that a wrong constant or a wrong comparison in the catalog fails.
"""

from __future__ import annotations

import pytest
import yaml

from gatekeeper.catalog import default_catalog
from gatekeeper.catalog._catalog import DATA_DIR

BITS = {"FP4": 4, "INT4": 4, "FP6": 6, "FP8": 8, "INT8": 8, "FP16": 16, "BF16": 16, "FP32": 32, "INT32": 32,
        "FP64": 64}
ROWS = yaml.safe_load((DATA_DIR / "chips.yaml").read_text(encoding="utf-8"))
TF32_BITS = ROWS["tf32_bits"]


def tpp_of(figures: list[dict[str, float]], tf32_bits: int) -> float | None:
    values = [f["tops"] * (tf32_bits if f["precision"].upper() == "TF32" else BITS[f["precision"].upper()])
              for f in figures]
    return max(values) if values else None


def class_of(tpp: float | None, die: float | None, datacenter: bool) -> str:
    if tpp is None:
        return "unknown"
    if tpp >= 4800:
        return "3A090.a"
    if tpp < 1600:
        return "none"
    if not die:
        return "unknown"
    pd = round(tpp / die, 2)
    if pd >= 5.92:
        return "3A090.a"
    if datacenter and ((2400 <= tpp < 4800 and 1.6 <= pd < 5.92) or 3.2 <= pd < 5.92):
        return "3A090.b"
    return "none"


@pytest.mark.parametrize("row", ROWS["chips"], ids=[r["model"] for r in ROWS["chips"]])
def test_class_recomputed_from_the_figures(row: dict[str, object]) -> None:
    chip = default_catalog().chip(str(row["model"]))
    figures = list(row.get("figures") or [])  # type: ignore[call-overload]
    tpp = tpp_of(figures, TF32_BITS)
    expected = class_of(tpp, row.get("die_mm2"), bool(row.get("datacenter", True)))  # type: ignore[arg-type]
    if row.get("bounded_by"):
        bound = next(r for r in ROWS["chips"] if r["model"] == row["bounded_by"])
        bound_tpp = tpp_of(bound["figures"], TF32_BITS)
        # Same die, lower or equal TPP: the bounding chip's "none" carries over, and is confirmed.
        assert class_of(bound_tpp, bound["die_mm2"], bound["datacenter"]) == "none"
        assert chip.export_class == "none" and chip.classification.confirmed
        assert tpp is not None and bound_tpp is not None and tpp <= bound_tpp
        return
    assert chip.export_class == expected
    assert chip.classification.tpp == (pytest.approx(tpp) if tpp is not None else None)
    if chip.classification.confirmed:
        assert row.get("figures_confirmed", True) and figures


@pytest.mark.parametrize("row", ROWS["chips"], ids=[r["model"] for r in ROWS["chips"]])
def test_every_row_has_a_sourced_bandwidth_or_none(row: dict[str, object]) -> None:
    chip = default_catalog().chip(str(row["model"]))
    if chip.memory_bandwidth is not None:
        assert chip.memory_bandwidth > 0 and chip.bandwidth_source.strip()


def test_tf32_effect_is_shown_on_every_row_it_changes() -> None:
    cat = default_catalog()
    changed = {r["model"] for r in ROWS["chips"]
               if tpp_of(r.get("figures") or [], 19) != tpp_of(r.get("figures") or [], 32)}
    assert changed == {m for m, c in cat.chips.items() if c.tf32 is not None}
    assert {"Trainium1", "Inferentia2", "Trainium2", "Trainium3"} <= changed
    rests = {m for m, c in cat.chips.items() if c.tf32 is not None and c.tf32.decides_class}
    assert rests == {"Trainium1", "Inferentia2"}  # .a at 32 bits, unknown at 19 (no die area)
    t2 = cat.chip("Trainium2").tf32
    assert t2 is not None and (t2.tpp_32, t2.tpp_19) == (21344, 667 * 19)
    assert "21,344" in t2.text() and "12,673" in t2.text() and "the class is the same" in t2.text()
    assert cat.chip("MI325X").tf32 is None  # TF32 653.7 x 32 = 20,918 < FP8 2,614.9 x 8


def test_bandwidth_of_the_h200_and_mi325x_classes() -> None:
    # 91 FR 1684 names the H200 and MI325X: both must fall below its bounds (TPP 21,000, 6,500 GB/s).
    cat = default_catalog()
    for model in ("H200", "MI325X"):
        c = cat.chip(model)
        assert c.classification.tpp is not None and c.classification.tpp < 21000
        assert c.memory_bandwidth is not None and c.memory_bandwidth < 6500
    for model in ("B200", "B300", "GB200", "GB300", "MI355X", "TPU7x"):
        c = cat.chip(model)
        assert (c.classification.tpp or 0) >= 21000 or (c.memory_bandwidth or 0) >= 6500, model
