"""The straightforward matcher that ``ScreeningIndex.match`` is held against.

Every candidate variant of :meth:`ScreeningIndex._candidates` (the variants sharing a distinctive
key with the name, or holding all of its generic words) is scored and explained, with no upper
bound, no pre-filter and no lean first pass: the matcher as it was before its fast path (issue 19),
kept here so that the fast path has something simple to be equal to.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatekeeper.screening.match import (
    EXTRA_PENALTY,
    GENERIC_ONLY_CAP,
    MISSING_PENALTY,
    Explanation,
    Match,
    ScreeningIndex,
    TokenPair,
    _country_effect,
    _CountryFamily,
    _SimMap,
    _Variant,
    _variants,
    token_class,
)


def reference_match(index: ScreeningIndex, name: str, countries: Sequence[str] = (), *,
                    min_score: float = 0.0, limit: int | None = None) -> list[Match]:
    """What ``index.match`` must return: every candidate scored, the best of each entry kept."""
    best: dict[int, Match] = {}
    customer_countries = frozenset(_CountryFamily.of(c) for c in countries if c)
    for c_text, c_norm in _variants(name, aliases_in_parentheses=False):
        tokens = c_norm.tokens
        sims = index._sim_map(tokens)
        cw = tuple(index.weight(t) for t in tokens)
        for vid in index._candidates(tokens, cw, sims):
            variant = index._variants[vid]
            m = reference_score(index, c_text, tokens, cw, sims, variant, customer_countries)
            if m.score >= min_score and m.score > 0:
                prev = best.get(variant.entry)
                if prev is None or m.score > prev.score:
                    best[variant.entry] = m
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.entry.list_code, m.entry.entry_id))
    return ranked[:limit] if limit is not None else ranked


def reference_score(index: ScreeningIndex, c_text: str, c_tokens: tuple[str, ...], cw: tuple[float, ...],
                    sims: _SimMap, variant: _Variant, customer_countries: frozenset[str]) -> Match:
    e_tokens, ew = variant.tokens, variant.weights
    pairs, used_c, used_e = _align(c_tokens, e_tokens, cw, ew, sims)
    total_c, total_e = sum(cw) or 1.0, variant.total or 1.0
    overlap_c = sum(p.customer_weight * p.similarity for p in pairs)
    overlap_e = sum(p.entry_weight * p.similarity for p in pairs)
    cover_c, cover_e = overlap_c / total_c, overlap_e / total_e
    if tuple(sorted(c_tokens)) == variant.ordered:
        rule, base = "identical", 100.0
    else:
        overlap = (overlap_c + overlap_e) / 2
        denominator = (overlap + MISSING_PENALTY * (total_e - overlap_e)
                       + EXTRA_PENALTY * (total_c - overlap_c))
        base = 100.0 * overlap / denominator if denominator > 0 else 0.0
        fully_paired = len(used_c) == len(c_tokens) and len(used_e) == len(e_tokens)
        if not fully_paired and not any(p.word_class == "distinctive" for p in pairs):
            rule, base = "generic-only", min(base, GENERIC_ONLY_CAP)
        else:
            rule = "weighted"
    entry = index.entries[variant.entry]
    effect, note = _country_effect(entry, customer_countries) if pairs else (0.0, "")
    score = round(max(0.0, min(100.0, base + effect)), 1) if pairs else 0.0
    explanation = Explanation(
        customer_name=c_text, customer_tokens=c_tokens, entry_variant=variant.text,
        entry_tokens=e_tokens, pairs=tuple(pairs),
        unmatched_customer=tuple((t, cw[i]) for i, t in enumerate(c_tokens) if i not in used_c),
        unmatched_entry=tuple((t, ew[j]) for j, t in enumerate(e_tokens) if j not in used_e),
        customer_coverage=round(cover_c, 4), entry_coverage=round(cover_e, 4),
        base_score=round(base, 1), rule=rule, country_effect=effect, country_note=note, score=score,
    )
    return Match(entry=entry, score=score, explanation=explanation)


def _align(c: tuple[str, ...], e: tuple[str, ...], cw: Sequence[float], ew: Sequence[float],
           sims: _SimMap) -> tuple[list[TokenPair], set[int], set[int]]:
    c_units: list[tuple[tuple[int, ...], str]] = [((i,), t) for i, t in enumerate(c)]
    c_units += [((i, i + 1), c[i] + c[i + 1]) for i in range(len(c) - 1)]
    e_units: list[tuple[tuple[int, ...], str]] = [((j,), t) for j, t in enumerate(e)]
    e_units += [((j, j + 1), e[j] + e[j + 1]) for j in range(len(e) - 1)]
    scored: list[tuple[float, int, tuple[int, ...], tuple[int, ...]]] = []
    for ci, ct in c_units:
        similar = sims.get(ct)
        if not similar:
            continue
        for ej, et in e_units:
            if len(ci) == 2 and len(ej) == 2:
                continue
            s = similar.get(et, 0.0)
            if s > 0:
                scored.append((s, len(ci) + len(ej), ci, ej))
    scored.sort(key=lambda x: (-x[0], -x[1], x[2], x[3]))
    used_c: set[int] = set()
    used_e: set[int] = set()
    pairs: list[TokenPair] = []
    for s, _, ci, ej in scored:
        if used_c.intersection(ci) or used_e.intersection(ej):
            continue
        used_c.update(ci)
        used_e.update(ej)
        classes = {token_class(e[j]) for j in ej}
        klass = "distinctive" if "distinctive" in classes else ("place" if "place" in classes else "generic")
        pairs.append(TokenPair(
            customer="+".join(c[i] for i in ci), entry="+".join(e[j] for j in ej), similarity=s,
            customer_weight=round(sum(cw[i] for i in ci), 3), entry_weight=round(sum(ew[j] for j in ej), 3),
            word_class=klass))
    return pairs, used_c, used_e
