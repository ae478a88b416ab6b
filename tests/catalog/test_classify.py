"""The 3A090 thresholds at their edges, TPP arithmetic, the TF32 rule and monotonicity of the class."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.catalog.classify import (
    CLASS_RANK,
    Figure,
    bit_length,
    classify,
    most_restrictive,
    total_processing_performance,
)
from gatekeeper.model import CLASS_A, CLASS_B, CLASS_NONE, CLASS_UNKNOWN


def die_for(tpp: float, pd: float) -> float:
    """A die area giving exactly ``pd`` for ``tpp`` (values chosen so the division is exact)."""
    return tpp / pd


# -- TPP ------------------------------------------------------------------------------------------
class TestTPP:
    def test_dense_tops_times_bit_length(self) -> None:
        # H100 SXM: 1,979 dense FP8 TFLOPS x 8 = 15,832 (88 FR 73458's worked example in the reference).
        assert total_processing_performance((Figure("FP8", 1979),), 32) == 15832

    def test_highest_precision_product_wins(self) -> None:
        figs = (Figure("FP16", 100), Figure("INT8", 300), Figure("FP64", 10))
        assert total_processing_performance(figs, 32) == 2400  # 300 x 8 beats 100 x 16 and 10 x 64

    def test_no_figures_is_none(self) -> None:
        assert total_processing_performance((), 32) is None

    def test_unknown_precision_raises(self) -> None:
        with pytest.raises(ValueError, match="FP7"):
            total_processing_performance((Figure("FP7", 1),), 32)

    @pytest.mark.parametrize(
        ("precision", "bits"),
        [("FP4", 4), ("int4", 4), ("FP6", 6), ("fp8", 8), ("INT8", 8), ("FP16", 16), ("bf16", 16),
         ("FP32", 32), ("INT32", 32), ("FP64", 64)],
    )
    def test_bit_lengths_case_insensitive(self, precision: str, bits: int) -> None:
        assert bit_length(precision, 32) == bits
        assert bit_length(precision, 19) == bits  # only TF32 depends on the rule


class TestTF32Rule:
    def test_tf32_follows_the_catalog_rule(self) -> None:
        assert bit_length("TF32", 32) == 32
        assert bit_length("tf32", 19) == 19

    def test_trainium_class_turns_on_the_rule(self) -> None:
        # Trainium1/Inferentia2: 190 TF32 and BF16, 380 INT8; die area unpublished.
        figs = (Figure("BF16", 190), Figure("TF32", 190), Figure("INT8", 380))
        at32 = total_processing_performance(figs, 32)
        at19 = total_processing_performance(figs, 19)
        assert at32 == 6080
        assert at19 == 3610  # 190 x 19 beats 190 x 16 = 380 x 8 = 3,040
        assert classify(at32, None).export_class == CLASS_A
        # Between 1,600 and 4,800 the class needs a die area: without one it is unknown, not .b or none.
        c19 = classify(at19, None)
        assert c19.export_class == CLASS_UNKNOWN
        assert not c19.confirmed

    def test_a100_does_not_depend_on_tf32(self) -> None:
        figs = (Figure("INT8", 624), Figure("TF32", 156))
        assert total_processing_performance(figs, 32) == 4992
        assert total_processing_performance(figs, 19) == 4992


# -- thresholds -----------------------------------------------------------------------------------
class TestThresholds:
    def test_tpp_4800_is_a_whatever_the_die(self) -> None:
        assert classify(4800, None).export_class == CLASS_A
        assert classify(4800, 100_000).export_class == CLASS_A  # PD 0.05
        assert classify(4800, 100_000, datacenter=False).export_class == CLASS_A

    def test_just_below_4800_needs_density(self) -> None:
        assert classify(4799.9, None).export_class == CLASS_UNKNOWN
        assert classify(4799.9, 100_000).export_class == CLASS_NONE

    def test_below_1600_is_none_whatever_the_density(self) -> None:
        assert classify(1599.9, 1).export_class == CLASS_NONE  # PD 1,600: irrelevant below 1,600
        assert classify(1599.9, None).export_class == CLASS_NONE
        assert classify(0, None).export_class == CLASS_NONE

    def test_pd_592_edge(self) -> None:
        # TPP 2,960 on 500 mm^2 is PD 5.92 exactly: .a; on 500.85 mm^2 PD 5.91: .b (>= 3.2).
        assert classify(2960, die_for(2960, 5.92)).export_class == CLASS_A
        assert classify(2960, 2960 / 5.91).export_class == CLASS_B
        assert classify(1600, 1600 / 5.92).export_class == CLASS_A  # both .a edges at once
        assert classify(1599.9, 1599.9 / 5.92).export_class == CLASS_NONE

    def test_b_high_density_arm(self) -> None:
        # TPP >= 1,600 and 3.2 <= PD < 5.92.
        assert classify(1600, 500).export_class == CLASS_B  # PD 3.2 exactly
        assert classify(1600, 1600 / 3.19).export_class == CLASS_NONE  # PD 3.19, TPP < 2,400

    def test_b_low_density_arm(self) -> None:
        # 2,400 <= TPP < 4,800 and 1.6 <= PD < 5.92.
        assert classify(2400, 1500).export_class == CLASS_B  # PD 1.6 exactly
        assert classify(2400, 2400 / 1.59).export_class == CLASS_NONE  # PD 1.59
        assert classify(2399, 2399 / 1.6).export_class == CLASS_NONE  # TPP just under 2,400, PD < 3.2
        assert classify(4799, 4799 / 1.6).export_class == CLASS_B

    def test_b_only_for_datacenter_chips(self) -> None:
        assert classify(2400, 1500, datacenter=False).export_class == CLASS_NONE
        assert classify(1600, 500, datacenter=False).export_class == CLASS_NONE
        # .a does not depend on the market.
        assert classify(2960, 500, datacenter=False).export_class == CLASS_A

    def test_pd_is_computed_and_rounded(self) -> None:
        c = classify(15832, 814)
        assert c.pd == 19.45
        assert c.tpp == 15832

    def test_pd_rounding_never_lowers_the_class(self) -> None:
        # 5.9196 rounds to 5.92: the density counts at the line (conservative), never below it.
        assert classify(5.9196 * 300, 300).export_class == CLASS_A

    def test_no_figure_is_unknown_and_unconfirmed(self) -> None:
        c = classify(None, 814)
        assert c.export_class == CLASS_UNKNOWN
        assert c.tpp is None
        assert not c.confirmed


class TestConfirmation:
    def test_unconfirmed_figures_keep_the_class_but_not_the_confirmation(self) -> None:
        c = classify(2000, 628, figures_confirmed=False)
        assert c.export_class == CLASS_NONE
        assert not c.confirmed
        a = classify(36000, None, figures_confirmed=False)
        assert a.export_class == CLASS_A
        assert not a.confirmed

    def test_unconfirmed_die_does_not_matter_when_tpp_decides(self) -> None:
        assert classify(36000, None, die_confirmed=False).confirmed
        assert classify(6128, 724, die_confirmed=False).confirmed

    def test_unconfirmed_die_matters_when_density_decides(self) -> None:
        c = classify(3152, 325, die_confirmed=False)
        assert c.export_class == CLASS_A
        assert not c.confirmed
        assert classify(3152, 325).confirmed


class TestMostRestrictive:
    def test_order(self) -> None:
        assert most_restrictive([]) == CLASS_NONE
        assert most_restrictive([CLASS_NONE, CLASS_B]) == CLASS_B
        assert most_restrictive([CLASS_B, CLASS_UNKNOWN, CLASS_NONE]) == CLASS_UNKNOWN
        assert most_restrictive([CLASS_UNKNOWN, CLASS_A]) == CLASS_A

    def test_unknown_class_name_raises(self) -> None:
        with pytest.raises(KeyError):
            most_restrictive(["3A090.z"])


# -- monotonicity -------------------------------------------------------------------------------
tpps = st.floats(min_value=0, max_value=100_000, allow_nan=False, allow_infinity=False)
known_dies = st.floats(min_value=1, max_value=5_000, allow_nan=False, allow_infinity=False)
dies = st.one_of(st.none(), known_dies)


def rank(tpp: float, die: float | None, datacenter: bool) -> int:
    return CLASS_RANK[classify(tpp, die, datacenter=datacenter).export_class]


@given(tpps, tpps, dies, st.booleans())
def test_raising_tpp_never_lowers_the_class(t1: float, t2: float, die: float | None, dc: bool) -> None:
    lo, hi = sorted((t1, t2))
    assert rank(lo, die, dc) <= rank(hi, die, dc)


@given(tpps, known_dies, known_dies, st.booleans())
def test_raising_pd_never_lowers_the_class(tpp: float, d1: float, d2: float, dc: bool) -> None:
    # A smaller die at the same TPP is a higher density. Known dies only: "no die" is not a density
    # but the absence of one (unknown).
    big, small = sorted((d1, d2), reverse=True)
    assert rank(tpp, big, dc) <= rank(tpp, small, dc)


@given(tpps, tpps, known_dies, known_dies, st.booleans())
def test_raising_both_never_lowers_the_class(t1: float, t2: float, d1: float, d2: float, dc: bool) -> None:
    lo, hi = sorted((t1, t2))
    big, small = sorted((d1, d2), reverse=True)
    assert rank(lo, big, dc) <= rank(hi, small, dc)


@given(tpps, dies)
def test_datacenter_flag_never_lowers_the_class(tpp: float, die: float | None) -> None:
    assert rank(tpp, die, False) <= rank(tpp, die, True)


@given(tpps, dies, st.booleans(), st.booleans())
def test_confirmation_flags_never_change_the_class(tpp: float, die: float | None, fc: bool, dcf: bool) -> None:
    base = classify(tpp, die)
    other = classify(tpp, die, figures_confirmed=fc, die_confirmed=dcf)
    assert other.export_class == base.export_class
    if not fc:
        assert not other.confirmed
