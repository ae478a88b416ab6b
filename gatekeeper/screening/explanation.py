"""What a screening score is made of: the token pairs and the steps of
:mod:`gatekeeper.screening.match`, with the reviewer's one-line summary and a JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GENERIC_ONLY_CAP = 50.0  # the base score when only generic or place words pair


@dataclass(frozen=True, slots=True)
class TokenPair:
    """Customer token(s) paired with entry token(s); merged words are joined with ``+``."""

    customer: str
    entry: str
    similarity: float
    customer_weight: float
    entry_weight: float
    word_class: str

    def as_dict(self) -> dict[str, Any]:
        return {"customer": self.customer, "entry": self.entry, "similarity": self.similarity,
                "customer_weight": self.customer_weight, "entry_weight": self.entry_weight,
                "class": self.word_class}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a customer name scored what it did against one entry."""

    customer_name: str
    customer_tokens: tuple[str, ...]
    entry_variant: str
    entry_tokens: tuple[str, ...]
    pairs: tuple[TokenPair, ...]
    unmatched_customer: tuple[tuple[str, float], ...]
    unmatched_entry: tuple[tuple[str, float], ...]
    customer_coverage: float
    entry_coverage: float
    base_score: float
    rule: str  # "identical", "weighted" or "generic-only"
    country_effect: float
    country_note: str
    score: float

    def summary(self) -> str:
        """One line for a reviewer's table."""
        parts = []
        for p in self.pairs:
            rel = "=" if p.similarity >= 1.0 else f"~{p.entry} {p.similarity * 100:.0f}%"
            shown = f"{p.customer}={p.entry}" if rel == "=" else f"{p.customer}{rel}"
            tag = "" if p.word_class == "distinctive" else f" ({p.word_class})"
            parts.append(f"{shown} w{p.entry_weight:.1f}{tag}")
        text = "; ".join(parts) or "no words in common"
        if self.unmatched_entry:
            text += "; missing " + " ".join(t for t, _ in self.unmatched_entry)
        if self.unmatched_customer:
            text += "; extra " + " ".join(t for t, _ in self.unmatched_customer)
        text += f"; base {self.base_score:.1f}"
        if self.rule == "identical":
            text += " (identical after normalisation)"
        elif self.rule == "generic-only":
            text += f" (only generic/place words in common: capped at {GENERIC_ONLY_CAP:.0f})"
        if self.country_effect:
            text += f"; {self.country_note} {self.country_effect:+.0f}"
        return f"{text} -> {self.score:.1f}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_name": self.customer_name, "customer_tokens": list(self.customer_tokens),
            "entry_variant": self.entry_variant, "entry_tokens": list(self.entry_tokens),
            "pairs": [p.as_dict() for p in self.pairs],
            "unmatched_customer": [{"token": t, "weight": w} for t, w in self.unmatched_customer],
            "unmatched_entry": [{"token": t, "weight": w} for t, w in self.unmatched_entry],
            "customer_coverage": self.customer_coverage, "entry_coverage": self.entry_coverage,
            "base_score": self.base_score, "rule": self.rule,
            "country": {"effect": self.country_effect, "note": self.country_note},
            "score": self.score, "summary": self.summary(),
        }
