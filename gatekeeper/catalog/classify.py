"""ECCN 3A090 classification computed from a chip's published figures.

The only place thresholds live. Figures come from ``data/chips.yaml``; nothing is typed in by hand.

- TPP = dense TOPS x bit length of the operation, the highest over the supported precisions
  (a vendor's dense figure already counts a MAC as two operations; 88 FR 73458).
- PD  = TPP / applicable die area (mm^2).
- 3A090.a: TPP >= 4800, or TPP >= 1600 and PD >= 5.92.
- 3A090.b (data-centre chips): 2400 <= TPP < 4800 and 1.6 <= PD < 5.92,
  or TPP >= 1600 and 3.2 <= PD < 5.92.

TF32's bit length is a documented choice (``tf32_bits`` in chips.yaml, default 32): the operands of a
TF32 operation are 32-bit registers, and counting 32 is the conservative reading (it makes AWS
Trainium1 and Inferentia2 3A090.a rather than .b).
"""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.model import CLASS_A, CLASS_B, CLASS_NONE, CLASS_UNKNOWN

TPP_A = 4800.0
TPP_LOW = 1600.0
TPP_B = 2400.0
PD_A = 5.92
PD_B_LOW = 1.6
PD_B_MID = 3.2

# Bit length of each precision's operation; TF32 is filled from the catalog's documented rule.
BIT_LENGTHS: dict[str, int] = {
    "FP4": 4, "INT4": 4, "FP6": 6, "FP8": 8, "INT8": 8, "FP16": 16, "BF16": 16,
    "FP32": 32, "INT32": 32, "FP64": 64,
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One published dense throughput figure: ``tops`` (TOPS or TFLOPS) at ``precision``."""

    precision: str
    tops: float


@dataclass(frozen=True, slots=True)
class Classification:
    tpp: float | None
    pd: float | None
    export_class: str
    # True when the class rests on confirmed figures only (an unconfirmed die area does not matter
    # when TPP alone decides).
    confirmed: bool
    basis: str


def bit_length(precision: str, tf32_bits: int) -> int:
    p = precision.upper()
    if p == "TF32":
        return tf32_bits
    try:
        return BIT_LENGTHS[p]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}") from None


def total_processing_performance(figures: tuple[Figure, ...], tf32_bits: int) -> float | None:
    """TPP: the highest dense TOPS x bit length over the figures; None when none is published."""
    if not figures:
        return None
    return max(f.tops * bit_length(f.precision, tf32_bits) for f in figures)


def classify(
    tpp: float | None,
    die_mm2: float | None,
    *,
    datacenter: bool = True,
    figures_confirmed: bool = True,
    die_confirmed: bool = True,
) -> Classification:
    """The 3A090 class of a chip from its TPP and die area."""
    if tpp is None:
        return Classification(None, None, CLASS_UNKNOWN, False, "no published dense figure")
    pd = round(tpp / die_mm2, 2) if die_mm2 else None
    if tpp >= TPP_A:
        return Classification(tpp, pd, CLASS_A, figures_confirmed, f"TPP {tpp:,.0f} >= {TPP_A:,.0f}")
    if tpp < TPP_LOW:
        return Classification(tpp, pd, CLASS_NONE, figures_confirmed, f"TPP {tpp:,.0f} < {TPP_LOW:,.0f}")
    if pd is None:
        # Between 1600 and 4800 the class turns on density, which needs the die area.
        return Classification(tpp, None, CLASS_UNKNOWN, False,
                              f"TPP {tpp:,.0f} needs a die area to decide (none confirmed)")
    confirmed = figures_confirmed and die_confirmed
    if pd >= PD_A:
        return Classification(tpp, pd, CLASS_A, confirmed, f"TPP {tpp:,.0f} >= 1,600 and PD {pd} >= {PD_A}")
    if datacenter and ((TPP_B <= tpp < TPP_A and PD_B_LOW <= pd < PD_A) or (PD_B_MID <= pd < PD_A)):
        return Classification(tpp, pd, CLASS_B, confirmed,
                              f"data-centre chip, TPP {tpp:,.0f} and PD {pd} within 3A090.b")
    return Classification(tpp, pd, CLASS_NONE, confirmed, f"TPP {tpp:,.0f} and PD {pd} below 3A090")


@dataclass(frozen=True, slots=True)
class Tf32Effect:
    """What the TF32 bit-length choice does to one chip: its TPP and class at 19 and at 32 bits."""

    tpp_19: float
    tpp_32: float
    class_19: str
    class_32: str

    @property
    def decides_class(self) -> bool:
        return self.class_19 != self.class_32

    def text(self) -> str:
        verdict = "the class rests on the choice" if self.decides_class else "the class is the same"
        return (f"TF32 at 32 bits: TPP {self.tpp_32:,.0f} ({self.class_32}); at 19 bits: TPP {self.tpp_19:,.0f} "
                f"({self.class_19}); {verdict}")


def tf32_effect(figures: tuple[Figure, ...], die_mm2: float | None, *, datacenter: bool = True) -> Tf32Effect | None:
    """The effect of the TF32 choice on a chip, or None when TF32 does not set its TPP either way."""
    if not any(f.precision.upper() == "TF32" for f in figures):
        return None
    t19 = total_processing_performance(figures, 19)
    t32 = total_processing_performance(figures, 32)
    if t19 is None or t32 is None or t19 == t32:
        return None
    return Tf32Effect(t19, t32, classify(t19, die_mm2, datacenter=datacenter).export_class,
                      classify(t32, die_mm2, datacenter=datacenter).export_class)


CLASS_RANK = {CLASS_NONE: 0, CLASS_B: 1, CLASS_UNKNOWN: 2, CLASS_A: 3}


def most_restrictive(classes: list[str]) -> str:
    """The class that weighs most for a decision: .a over unknown over .b over none."""
    return max(classes, key=CLASS_RANK.__getitem__) if classes else CLASS_NONE
