"""Explained fuzzy matching of customer names against restricted-party list entries.

How a score is made (0-100), for a customer name against each name variant of an entry (its name,
its ``alt_names`` and the parts in parentheses, ``"... Corporation (SMIC)"``):

1. Both names are normalised (:mod:`gatekeeper.screening.normalize`): case, diacritics, punctuation,
   legal forms and connecting words go; word order is ignored.
2. Tokens are paired one-to-one, best pairs first. Two tokens are similar when rapidfuzz's
   ``fuzz.ratio`` is at least 80 (85 for words of 4-5 letters; words of 1-3 letters must be equal),
   also compared through a transliteration key (``SHENZEN``/``SHENZHEN``, ``ROSTEC``/``ROSTEKH``).
   Two adjacent words may pair with one (``HIK VISION``/``HIKVISION``).
3. Every token weighs its rarity across the loaded list (inverse document frequency, computed as if
   the list held at least 10,000 entries so that a small list does not make every word look
   common), times 0.05 for generic words (``TRADING``, ``TECHNOLOGY`` ...) and 0.1 for place words
   (``SHENZHEN``, ``CHINA``); a misspelt generic or place word counts as one.
   The base score is a weighted Dice overlap: ``100 x overlap / (overlap + 0.5 x missing + 0.5 x
   extra)``, where ``overlap`` is the similarity-weighted mass of the paired tokens, ``missing`` the
   mass of the entry's tokens the customer's name lacks and ``extra`` the mass of the customer's
   tokens the entry lacks. So a customer named like a listed party plus or minus generic words
   scores high, and one distinctive word shared by two otherwise different names scores about 50.
4. Names identical after normalisation score 100. When only generic or place words pair (and the
   names are not fully paired both ways) the base is capped at 50: ``Acme Trading Group`` is not
   ``Global Trading Group``.
5. The address country: an entry country equal to one of the customer's countries (location,
   headquarters, ultimate parent; Hong Kong counts as China) adds 5; entry countries disjoint from
   known customer countries subtract 10; unknown on either side changes nothing.

Every :class:`Match` carries an :class:`Explanation` of each of these steps.

The :class:`ScreeningIndex` is built once per loaded list: token -> name variants (postings), token
rarity, and a deletion index over transliteration keys that finds the list's tokens within one edit
of a customer's token without comparing against the whole vocabulary.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from gatekeeper.screening.explanation import GENERIC_ONLY_CAP as GENERIC_ONLY_CAP  # re-exported
from gatekeeper.screening.explanation import Explanation as Explanation
from gatekeeper.screening.explanation import TokenPair as TokenPair
from gatekeeper.screening.normalize import (
    GENERIC_WORDS,
    PLACE_WORDS,
    NormalizedName,
    normalize_name,
    phonetic_key,
    split_parenthetical,
    word_class,
)
from gatekeeper.stores.screening_base import ListEntry

DEFAULT_THRESHOLD = 88.0
MISSING_PENALTY = 0.5  # entry tokens the customer's name lacks
EXTRA_PENALTY = 0.5  # customer tokens the entry lacks
GENERIC_FACTOR = 0.05
PLACE_FACTOR = 0.1
IDF_MIN_ENTRIES = 10_000
COUNTRY_SUPPORT = 5.0
COUNTRY_CONFLICT = -10.0
_MIN_FUZZY_LEN = 4
_KEY_DISCOUNT = 0.98
_SIM_CACHE_MAX = 500_000
_SLACK_TABLES_MAX = 12  # slack tables kept: three per threshold, and a deployment uses one or two
_SORTED_MIN = 16  # postings at least this long are looked up by bisection, shorter ones scanned
_SCAN_MAX = 64  # a name key with at most this many postings in all adds to its variants exactly
_BOUND_MARGIN = 1e-6  # float rounding allowance: a bound must never drop what could reach the floor
_ROUNDING = 0.05 + 1e-9  # a score is rounded to one decimal: 87.95 shows as 88.0

_CLASS_FACTOR = {"generic": GENERIC_FACTOR, "place": PLACE_FACTOR, "distinctive": 1.0}


@lru_cache(maxsize=262_144)
def _key(token: str) -> str:
    return phonetic_key(token)


def token_similarity(a: str, b: str) -> float:
    """Similarity of two normalised tokens in [0, 1]; 0 below the acceptance bar.

    The raw rapidfuzz ratio (or, at a 2% discount, the ratio of their transliteration keys) is
    accepted from 0.80 (0.85 for tokens of 4-5 letters; tokens of 1-3 letters must be equal) and then
    softened (``1 - 0.6 x (1 - ratio)``) so that one typo in a distinctive word still scores about
    0.9: misspelling a listed name must not be a way around the list.
    """
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if min(la, lb) < _MIN_FUZZY_LEN or 2 * min(la, lb) / (la + lb) < 0.7:
        return 0.0
    bar = 0.85 if max(la, lb) <= 5 else 0.80
    raw = fuzz.ratio(a, b, score_cutoff=bar * 100) / 100.0
    ka, kb = _key(a), _key(b)
    keyed = 1.0 if ka == kb else fuzz.ratio(ka, kb, score_cutoff=bar * 100 / _KEY_DISCOUNT) / 100.0
    best = max(raw, keyed * _KEY_DISCOUNT)
    if best < bar:
        return 0.0
    return round(1.0 - 0.6 * (1.0 - best), 4)


@dataclass(frozen=True, slots=True)
class Match:
    entry: ListEntry
    score: float
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class _Variant:
    entry: int
    text: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    total: float  # sum of weights
    non_distinctive: float  # weight of its generic and place tokens
    ordered: tuple[str, ...]  # tokens sorted, to recognise identical names
    units: dict[str, tuple[tuple[int, ...], ...]]  # its tokens and adjacent pairs joined -> positions
    distinctive: tuple[bool, ...]  # per token


def _variants(name: str, *, aliases_in_parentheses: bool) -> list[tuple[str, NormalizedName]]:
    """Name variants: the whole name, the name without its parenthesised parts and, for list
    entries, each parenthesised part that holds a distinctive word (an alias such as ``SMIC``)."""
    out: list[tuple[str, NormalizedName]] = [(name, normalize_name(name))]
    if "(" not in name:  # no parenthesised part: the one variant (most names)
        return out if out[0][1].tokens else []
    outer, inner = split_parenthetical(name)
    if inner:
        if outer:
            out.append((outer, normalize_name(outer)))
        if aliases_in_parentheses:
            for part in inner:
                norm = normalize_name(part)
                if any(token_class(t) == "distinctive" for t in norm.tokens):
                    out.append((part, norm))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for text, norm in out:
        if norm.tokens and norm.tokens not in seen:
            seen.add(norm.tokens)
            unique.append((text, norm))
    return unique


def _deletions(key: str) -> set[str]:
    return {key} | {key[:i] + key[i + 1:] for i in range(len(key))}


def _build_class_index() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for word in GENERIC_WORDS | PLACE_WORDS:
        if len(word) >= _MIN_FUZZY_LEN:
            for k in _deletions(_key(word)):
                index.setdefault(k, []).append(word)
    return index


_CLASS_INDEX = _build_class_index()


@lru_cache(maxsize=262_144)
def token_class(token: str) -> str:
    """``generic``, ``place`` or ``distinctive``; a token within one edit of a generic or place word
    (``SHENZEN``, ``TECHNOLGY``) takes that word's class, so that a typo does not make a word rare."""
    return _class_near(token, _deletions(_key(token)) if len(token) >= _MIN_FUZZY_LEN else set())


def _class_near(token: str, deletions: set[str]) -> str:
    klass = word_class(token)
    if klass == "distinctive":
        best = 0.0
        for k in deletions:
            for word in _CLASS_INDEX.get(k, ()):
                s = token_similarity(token, word)
                if s > best:
                    best, klass = s, word_class(word)
    return klass


class _CountryFamily:
    """Places treated as another country (Hong Kong as China), from the jurisdictions catalog."""

    _treated_as: dict[str, str] | None = None

    @classmethod
    def of(cls, code: str) -> str:
        if cls._treated_as is None:
            try:
                from gatekeeper.jurisdictions import default_jurisdictions

                cls._treated_as = dict(default_jurisdictions().treated_as)
            except Exception:  # the catalog failing must not stop screening; HK is the known case
                cls._treated_as = {"HK": "CN"}
        c = code.strip().upper()
        return cls._treated_as.get(c, c)


_SimMap = dict[str, dict[str, float]]


class ScreeningIndex:
    """The loaded list prepared for matching.

    * postings: token -> name variants holding it; adjacent words joined (``HIK VISION`` ->
      ``HIKVISION``) are keys too, so that the joined spelling finds the split one and back;
    * weights: every token's rarity across the list times its class factor;
    * a deletion index over transliteration keys (each key and each key with one letter deleted),
      which finds the list's tokens within one edit of a customer's token by a few dictionary
      look-ups instead of a scan of the vocabulary.

    Candidates are the variants sharing a distinctive token (exactly or fuzzily) with the customer's
    name; a candidate is scored only when an upper bound of its score can reach ``min_score``.
    Build it once per loaded list and reuse it; apart from a bounded cache it is read-only, so
    threads may share it.
    """

    def __init__(self, entries: Iterable[ListEntry]) -> None:
        self.entries: tuple[ListEntry, ...] = tuple(entries)
        normalized: list[tuple[int, str, tuple[str, ...]]] = []
        df: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            entry_tokens: set[str] = set()
            seen: set[tuple[str, ...]] = set()
            for raw in (entry.name, *entry.alt_names):
                for text, norm in _variants(raw, aliases_in_parentheses=True):
                    if norm.tokens not in seen:
                        seen.add(norm.tokens)
                        normalized.append((i, text, norm.tokens))
                        entry_tokens.update(norm.tokens)
            for t in entry_tokens:
                df[t] = df.get(t, 0) + 1
        # Rarity as if the list held at least IDF_MIN_ENTRIES entries: in a small list every word
        # would otherwise look common and generic words would weigh nearly as much as names.
        n = max(len(self.entries), IDF_MIN_ENTRIES)
        self._unknown_idf = math.log(n + 1) + 1.0
        self._weights: dict[str, float] = {}
        self._classes: dict[str, str] = {}
        # Deletion neighbourhood of transliteration keys (real tokens only; joined pairs are found
        # exactly): the list's tokens within one edit, without a scan of the vocabulary.
        self._fuzzy_index: dict[str, list[str]] = {}
        for t, c in df.items():
            dels = _deletions(_key(t)) if len(t) >= _MIN_FUZZY_LEN else set()
            klass = self._classes[t] = _class_near(t, dels)
            self._weights[t] = round((math.log((n + 1) / (c + 1)) + 1.0) * _CLASS_FACTOR[klass], 3)
            for k in dels:
                self._fuzzy_index.setdefault(k, []).append(t)
        self._fuzzy_lengths = frozenset(len(k) for k in self._fuzzy_index)
        self._variants: list[_Variant] = []
        self._postings: dict[str, list[int]] = {}
        # Per unit (a token or two adjacent tokens joined): the most its occurrences weigh in one
        # variant, the most times it occurs in one, whether it holds a distinctive word. An upper
        # bound of what pairing with it can bring, whichever variant and split it comes from.
        self._unit_mass: dict[str, float] = {}
        self._unit_count: dict[str, int] = {}  # only when above 1
        self._distinctive_units: set[str] = set()
        self._by_id: dict[str, list[int]] = {}
        for i, text, tokens in normalized:
            vid = len(self._variants)
            weights = tuple(self._weights[t] for t in tokens)
            non_distinctive = sum(w for t, w in zip(tokens, weights, strict=True)
                                  if self._classes[t] != "distinctive")
            dist = tuple(self._classes[t] == "distinctive" for t in tokens)
            units: dict[str, list[tuple[int, ...]]] = {}
            for j, t in enumerate(tokens):
                units.setdefault(t, []).append((j,))
            for j, (a, b) in enumerate(itertools.pairwise(tokens)):
                units.setdefault(a + b, []).append((j, j + 1))
            unit_mass, unit_count = self._unit_mass, self._unit_count
            for k, at in units.items():
                self._postings.setdefault(k, []).append(vid)
                mass = 0.0
                for unit in at:
                    for j in unit:
                        mass += weights[j]
                        if dist[j]:
                            self._distinctive_units.add(k)
                if mass > unit_mass.get(k, 0.0):
                    unit_mass[k] = mass
                if len(at) > 1 and len(at) > unit_count.get(k, 1):
                    unit_count[k] = len(at)
            self._variants.append(_Variant(
                i, text, tokens, weights, sum(weights), non_distinctive, tuple(sorted(tokens)),
                {k: tuple(at) for k, at in units.items()}, dist))
            self._by_id.setdefault(self.entries[i].entry_id, []).append(vid)
        self._similar_cache: dict[str, dict[str, float]] = {}
        self._posting_sets: dict[str, frozenset[int]] = {}  # of generic and place words, as met
        self._entry_countries: list[frozenset[str] | None] = [None] * len(self.entries)  # filled as met
        # Per threshold (see _pruned_candidates): each variant's slack, and long postings sorted by it.
        self._slack_tables: dict[float, tuple[list[float], dict[str, tuple[list[int], list[float]]], float]] = {}
        self._floors: dict[float, _FloorTables] = {}

    def __len__(self) -> int:
        return len(self.entries)

    # -- weights and token look-up ------------------------------------------------------------

    def weight(self, token: str) -> float:
        """Rarity of ``token`` in the list (inverse document frequency) times its class factor."""
        w = self._weights.get(token)
        if w is None:
            w = round(self._unknown_idf * _CLASS_FACTOR[token_class(token)], 3)
        return w

    def similar_tokens(self, token: str) -> dict[str, float]:
        """List tokens (and joined pairs, exactly) similar to ``token``, with their similarity."""
        found = self._similar_cache.get(token)
        if found is not None:
            return found
        found = {}
        if token in self._postings:
            found[token] = 1.0
        key = _key(token) if len(token) >= _MIN_FUZZY_LEN else ""
        # A key and its deletions are as long as the key or one letter shorter: when no indexed key
        # is, nothing can be found (most joined pairs are longer than any listed word).
        if key and (len(key) in self._fuzzy_lengths or len(key) - 1 in self._fuzzy_lengths):
            for k in _deletions(key):
                for v in self._fuzzy_index.get(k, ()):
                    if v not in found:
                        s = token_similarity(token, v)
                        if s > 0:
                            found[v] = s
        if len(self._similar_cache) >= _SIM_CACHE_MAX:
            self._similar_cache.clear()
        self._similar_cache[token] = found
        return found

    def _sim_map(self, tokens: tuple[str, ...]) -> _SimMap:
        keys = set(tokens) | {a + b for a, b in itertools.pairwise(tokens)}
        return {k: self.similar_tokens(k) for k in keys}

    @staticmethod
    def _keys(tokens: tuple[str, ...], cw: tuple[float, ...], distinctive: list[int]) -> dict[str, float]:
        """The customer's look-up keys with their weight: its distinctive tokens, then every adjacent
        pair joined (``HIK VISION`` -> ``HIKVISION``)."""
        keys: dict[str, float] = {tokens[i]: cw[i] for i in distinctive}
        for i in range(len(tokens) - 1):
            # A joined pair may also be one of the name's words (HUA XIN HUAXIN): the heavier counts.
            k, w = tokens[i] + tokens[i + 1], cw[i] + cw[i + 1]
            if w > keys.get(k, 0.0):
                keys[k] = w
        return keys

    def _candidates(self, tokens: tuple[str, ...], cw: tuple[float, ...], sims: _SimMap) -> list[int]:
        """Candidate variants, in the order they are scored: those sharing a distinctive word or a
        joined pair with the name (exactly or fuzzily), by the name's keys, each key's similar list
        keys, the variants holding them; or, for a name of generic and place words only, the
        variants holding all of them. Every candidate is listed: the path without a floor, and the
        reference the pruned path (:meth:`_pruned_candidates`) is tested against."""
        distinctive = [i for i, t in enumerate(tokens) if token_class(t) == "distinctive"]
        if not distinctive:
            return list(self._generic_candidates(tokens))
        found: dict[int, None] = {}
        for k in self._keys(tokens, cw, distinctive):
            for v in sims[k]:
                found.update(dict.fromkeys(self._postings.get(v, ())))
        return list(found)

    def _generic_candidates(self, tokens: tuple[str, ...]) -> dict[int, None]:
        """Only generic and place words: the candidates are the variants holding all of them, in
        list order (their postings are long, so the shortest is filtered through the others' sets,
        kept once built); no bound is needed for so few."""
        keys = sorted(set(tokens), key=lambda t: len(self._postings.get(t, ())))
        common = self._postings.get(keys[0], []) if keys else []
        for t in keys[1:]:
            if not common:
                break
            held = self._posting_sets.get(t)
            if held is None:
                held = self._posting_sets[t] = frozenset(self._postings.get(t, ()))
            common = [vid for vid in common if vid in held]
        return dict.fromkeys(common)

    def _pruned_candidates(self, tokens: tuple[str, ...], cw: tuple[float, ...], sims: _SimMap, min_score: float,
                           total_c: float, generic_c: float,
                           customer_countries: frozenset[str]) -> list[tuple[int, float, float]]:
        """The candidates of :meth:`_candidates`, in its order, less those whose base score cannot
        reach ``reach``, found without visiting them: ``(variant, bound_e, bound_c)``, upper bounds
        of the weight of the variant's and of the name's tokens that can pair.

        The bounds: ``bound_e`` adds, for each name key (distinctive word or joined pair) and each
        of its similar list units the variant holds, similarity x the most that unit weighs in one
        variant, and the same for the name's generic and place words against the variant's units
        that hold a distinctive word; ``bound_c`` adds each key's weight times the most times the
        unit occurs in one variant. The rest of either side is its generic and place weight
        (``nd``, ``gc``). So the paired weights are at most ``ub_e = min(Te, nd + bound_e)`` and
        ``ub_c = min(Tc, gc + bound_c)`` (``Te``, ``Tc``: the totals), whatever the pairing.

        The base score is ``100 x U / 2 / ((0.5 - p) x U + p x (Te + Tc))`` with ``U`` the paired
        weight of both sides (penalties equal, ``p``), so it reaches ``reach`` only when
        ``U >= rho x (Te + Tc)``, ``rho = reach x p / (50 - reach x (0.5 - p))``: a variant can pass
        only if its *slack* ``rho x Te - nd`` is at most ``B + gc - rho x Tc``, ``B`` what the keys
        add to its two bounds. Keys are visited by the most they can add, largest first; a variant
        first met at a key gets at most what that key adds to it plus the most of the later keys,
        so from each key's postings, sorted by slack once per threshold, only the prefix under the
        most is taken (the generic pairs, ``TECHNOLOGY TRADING``, hold thousands of variants and
        yield none), then held to what the key adds to it and to what its entry's country effect
        leaves it to reach (``reach`` is the base score a hit needs where the country supports it).
        """
        rho, slack, by_slack, least, by_effect = self._floor_tables(min_score)
        distinctive = [i for i, t in enumerate(tokens) if token_class(t) == "distinctive"]
        if not distinctive:
            return [(vid, math.inf, math.inf) for vid in self._generic_candidates(tokens)]
        mass, count = self._unit_mass, self._unit_count
        # Per name key (in _candidates' order): its similar list units with what each adds to
        # bound_e and to bound_c; and the most the key adds to one variant's two bounds.
        keyed: list[list[tuple[str, float, float]]] = []
        most: list[float] = []
        for k, k_weight in self._keys(tokens, cw, distinctive).items():
            adds = [(v, sim * mass[v], k_weight * count.get(v, 1)) for v, sim in sims[k].items()]
            keyed.append(adds)
            most.append(sum(a_e + a_c for _, a_e, a_c in adds))
        # The name's generic and place words against distinctive units (SHENZEN ~ a listed word):
        # they never make a variant a candidate but add to its bound_e.
        extra: list[tuple[str, float, float]] = []
        for t in {tokens[i] for i in range(len(tokens)) if i not in distinctive}:
            extra += [(v, sim * mass[v], 0.0) for v, sim in sims[t].items() if v in self._distinctive_units]
        # what those add to each variant holding such a unit (few: the units are distinctive)
        extra_adds: dict[int, float] = {}
        for v, a_e, _ in extra:
            for vid in self._postings[v]:
                extra_adds[vid] = extra_adds.get(vid, 0.0) + a_e
        # Keys with few postings (a distinctive word and its neighbours): what they add to each
        # variant, exactly. The others (joined generic words, a frequent word) are visited by the
        # most they can add, largest first, and only the variants they can lift are looked at.
        known: dict[int, float] = {}
        long_keys: list[int] = []
        postings, variants = self._postings, self._variants
        for ki, adds in enumerate(keyed):
            if sum(len(postings[v]) for v, _, _ in adds) > _SCAN_MAX:
                long_keys.append(ki)
                continue
            for v, a_e, a_c in adds:
                for vid in postings[v]:
                    known[vid] = known.get(vid, 0.0) + a_e + a_c
        left = sum(most[ki] for ki in long_keys)  # what the long keys not yet visited can add
        floor = generic_c - rho * total_c + _BOUND_MARGIN
        top = max(extra_adds.values(), default=0.0)  # what a variant not in known can get besides
        if not known and left + floor + top < least:  # the usual case for a name unlike any listed one
            return []
        unit_adds: dict[str, float] = {}  # list unit -> what it adds to a variant, all keys together
        for adds in (*keyed, extra):
            for v, a_e, a_c in adds:
                unit_adds[v] = unit_adds.get(v, 0.0) + a_e + a_c
        found: set[int] = set()
        seen: set[int] = set()  # held to their whole bound: kept in found or dropped for good

        def hold(vid: int) -> None:
            """Keep the variant if its whole bound (every key's units it holds) reaches the slack
            its entry's country effect leaves it."""
            seen.add(vid)
            variant = variants[vid]
            bound = sum(unit_adds.get(u, 0.0) for u in variant.units)
            slack_e, rho_e = by_effect.get(self._country_effect(variant.entry, customer_countries), (slack, rho))
            if slack_e[vid] <= bound + generic_c - rho_e * total_c + _BOUND_MARGIN:
                found.add(vid)

        rest = left + floor
        for vid, add in known.items():
            if slack[vid] <= rest + add + extra_adds.get(vid, 0.0):
                hold(vid)
        seen.update(known)  # the rest of them cannot reach the floor whatever the long keys add
        for ki in sorted(long_keys, key=most.__getitem__, reverse=True):
            limit = left + floor + top
            if limit < least:  # no variant's slack is that low: the keys left add no candidate
                break
            left -= most[ki]
            # What this key adds to each variant whose slack is within its most (a variant seldom
            # holds more than one of a key's similar units, so this is far below the most).
            added: dict[int, float] = {}
            for v, a_e, a_c in keyed[ki]:
                at = postings[v]
                if len(at) >= _SORTED_MIN:
                    ranked = by_slack.get(v)
                    if ranked is None:
                        vids = sorted(at, key=slack.__getitem__)
                        ranked = by_slack[v] = (vids, [slack[vid] for vid in vids])
                    at = ranked[0][:bisect.bisect_right(ranked[1], limit)]
                for vid in at:
                    if slack[vid] <= limit:
                        added[vid] = added.get(vid, 0.0) + a_e + a_c
            rest = left + floor
            for vid, add in added.items():
                if vid not in seen and slack[vid] <= rest + add + extra_adds.get(vid, 0.0):
                    hold(vid)
        if not found:
            return []
        # list unit -> (key's rank, the unit's rank among the key's, adds to bound_e, to bound_c)
        adding: dict[str, list[tuple[int, int, float, float]]] = {}
        for ki, adds in enumerate(keyed):
            for vj, (v, a_e, a_c) in enumerate(adds):
                adding.setdefault(v, []).append((ki, vj, a_e, a_c))
        for v, a_e, _ in extra:
            adding.setdefault(v, []).append((len(keyed), 0, a_e, 0.0))
        out: list[tuple[int, int, int, float, float]] = []
        for vid in found:
            hits = sorted(a for u in variants[vid].units for a in adding.get(u, ()))
            # the first key that holds the variant: where _candidates meets it
            out.append((hits[0][0], hits[0][1], vid, sum(h[2] for h in hits), sum(h[3] for h in hits)))
        out.sort()
        return [(vid, bound_e, bound_c) for _, _, vid, bound_e, bound_c in out]

    def _floor_tables(self, min_score: float) -> _FloorTables:
        """For a floor: the share of weight that must pair where the entry's country supports the
        name, the slack table for it, the least slack, and per other country effect (unknown,
        differs) its slack table and share."""
        tables = self._floors.get(min_score)
        if tables is None:
            rho = _rho(min_score - COUNTRY_SUPPORT - _ROUNDING)
            slack, by_slack, least = self._slack_table(rho)
            by_effect = {effect: (self._slack_table(r)[0], r)
                         for effect in (0.0, COUNTRY_CONFLICT) for r in [_rho(min_score - effect - _ROUNDING)]}
            if len(self._floors) >= _SLACK_TABLES_MAX:
                self._floors.clear()
            tables = self._floors[min_score] = (rho, slack, by_slack, least, by_effect)
        return tables

    def _slack_table(self, rho: float) -> tuple[list[float], dict[str, tuple[list[int], list[float]]], float]:
        """Each variant's slack ``rho x Te - nd`` for one threshold, (filled as they are met) long
        postings sorted by it, and the least slack."""
        table = self._slack_tables.get(rho)
        if table is None:
            if len(self._slack_tables) >= _SLACK_TABLES_MAX:
                self._slack_tables.clear()
                self._floors.clear()
            slack = [rho * v.total - v.non_distinctive for v in self._variants]
            table = self._slack_tables[rho] = (slack, {}, min(slack))
        return table

    def match(
        self,
        name: str,
        countries: Sequence[str] = (),
        *,
        min_score: float = 0.0,
        limit: int | None = None,
    ) -> list[Match]:
        """Entries matching ``name`` with a score >= ``min_score`` (and > 0), best first, one per entry.

        ``countries`` are the customer's countries (location, headquarters, ultimate parent).
        """
        if not self._variants:  # no list loaded: nothing can match, so skip normalising the name
            return []
        best: dict[int, Match] = {}
        customer_countries = frozenset(_CountryFamily.of(c) for c in countries if c)
        # A score is rounded to one decimal and a country adds at most COUNTRY_SUPPORT: the base
        # score a hit needs at least.
        reach = min_score - COUNTRY_SUPPORT - _ROUNDING
        for c_text, c_norm in _variants(name, aliases_in_parentheses=False):
            cust = self._customer(c_text, c_norm.tokens)
            tokens, cw, sims, total_c = cust.tokens, cust.weights, cust.sims, cust.total
            generic_c = sum(w for t, w in zip(tokens, cw, strict=True) if token_class(t) != "distinctive")
            candidates: Iterable[tuple[int, float, float]]
            if reach > 0 and MISSING_PENALTY == EXTRA_PENALTY:  # a floor: visit only what can reach it
                candidates = self._pruned_candidates(tokens, cw, sims, min_score, total_c, generic_c,
                                                     customer_countries)
            else:
                candidates = ((vid, math.inf, math.inf) for vid in self._candidates(tokens, cw, sims))
            for vid, bound_e, bound_c in candidates:
                variant = self._variants[vid]
                if reach > 0 and bound_e != math.inf:
                    # The most the base score can be (it grows with either side's paired weight),
                    # against what it needs with this entry's country effect.
                    ub_e = min(variant.total, bound_e + variant.non_distinctive)
                    ub_c = min(total_c, bound_c + generic_c)
                    half = (ub_c + ub_e) / 2
                    most = 100.0 * half / (half + MISSING_PENALTY * (variant.total - ub_e)
                                           + EXTRA_PENALTY * (total_c - ub_c))
                    if most + _BOUND_MARGIN < min_score - _ROUNDING - self._country_effect(
                            variant.entry, customer_countries):
                        continue
                scored = self._assess(cust, variant, customer_countries)
                score = scored[0]
                if score >= min_score and score > 0:
                    prev = best.get(variant.entry)
                    if prev is None or score > prev.score:
                        best[variant.entry] = self._explain(cust, variant, customer_countries, scored)
        ranked = sorted(best.values(), key=lambda m: (-m.score, m.entry.list_code, m.entry.entry_id))
        return ranked[:limit] if limit is not None else ranked

    def prepare(self, min_score: float) -> None:
        """Build now what matching at ``min_score`` would build on first use (the floor's tables, the
        country family of each entry), so that processes forked afterwards share one copy rather
        than each building its own. Results do not change: these are caches."""
        if not self._variants:
            return
        for entry in range(len(self.entries)):
            self._country_effect(entry, frozenset())
        if min_score - COUNTRY_SUPPORT - _ROUNDING > 0 and MISSING_PENALTY == EXTRA_PENALTY:
            self._floor_tables(min_score)

    def score(self, name: str, entry_id: str, countries: Sequence[str] = ()) -> Match | None:
        """The best match of ``name`` against one entry (any score), or None if the entry is unknown."""
        customer_countries = frozenset(_CountryFamily.of(c) for c in countries if c)
        best: Match | None = None
        for c_text, c_norm in _variants(name, aliases_in_parentheses=False):
            cust = self._customer(c_text, c_norm.tokens)
            for vid in self._by_id.get(entry_id, ()):
                variant = self._variants[vid]
                m = self._explain(cust, variant, customer_countries, self._assess(cust, variant, customer_countries))
                if best is None or m.score > best.score:
                    best = m
        return best

    def _customer(self, text: str, tokens: tuple[str, ...]) -> _Customer:
        cw = tuple(self.weight(t) for t in tokens)
        units: list[tuple[tuple[int, ...], str]] = [((i,), t) for i, t in enumerate(tokens)]
        units += [((i, i + 1), tokens[i] + tokens[i + 1]) for i in range(len(tokens) - 1)]
        return _Customer(text, tokens, cw, sum(cw), self._sim_map(tokens), tuple(units), tuple(sorted(tokens)))

    def _assess(self, cust: _Customer, variant: _Variant, customer_countries: frozenset[str]) -> _Assessment:
        """The score of ``cust`` against ``variant`` and what makes it, without the explanation's text
        (most variants scored are not hits: :meth:`_explain` is for those that are)."""
        pairs, used_c, used_e = _align(cust, variant)
        c_tokens, cw = cust.tokens, cust.weights
        total_c, total_e = cust.total or 1.0, variant.total or 1.0
        overlap_c = sum(round(sum(cw[i] for i in ci), 3) * s for s, ci, _ in pairs)
        overlap_e = sum(round(sum(variant.weights[j] for j in ej), 3) * s for s, _, ej in pairs)
        if cust.ordered == variant.ordered:
            rule, base = "identical", 100.0
        else:
            overlap = (overlap_c + overlap_e) / 2
            denominator = (overlap + MISSING_PENALTY * (total_e - overlap_e)
                           + EXTRA_PENALTY * (total_c - overlap_c))
            base = 100.0 * overlap / denominator if denominator > 0 else 0.0
            fully_paired = len(used_c) == len(c_tokens) and len(used_e) == len(variant.tokens)
            if not fully_paired and not any(variant.distinctive[j] for _, _, ej in pairs for j in ej):
                rule, base = "generic-only", min(base, GENERIC_ONLY_CAP)
            else:
                rule = "weighted"
        effect = self._country_effect(variant.entry, customer_countries) if pairs else 0.0
        score = round(max(0.0, min(100.0, base + effect)), 1) if pairs else 0.0
        return score, pairs, used_c, used_e, overlap_c / total_c, overlap_e / total_e, base, rule

    def _country_effect(self, entry: int, customer_countries: frozenset[str]) -> float:
        entry_countries = self._entry_countries[entry]
        if entry_countries is None:
            entry_countries = self._entry_countries[entry] = frozenset(
                _CountryFamily.of(c) for c in self.entries[entry].countries)
        if not entry_countries or not customer_countries:
            return 0.0
        return COUNTRY_SUPPORT if entry_countries & customer_countries else COUNTRY_CONFLICT

    def _explain(self, cust: _Customer, variant: _Variant, customer_countries: frozenset[str],
                 scored: _Assessment) -> Match:
        score, aligned, used_c, used_e, cover_c, cover_e, base, rule = scored
        c_tokens, cw, e_tokens, ew = cust.tokens, cust.weights, variant.tokens, variant.weights
        pairs = []
        for s, ci, ej in aligned:
            classes = {token_class(e_tokens[j]) for j in ej}
            klass = "distinctive" if "distinctive" in classes else ("place" if "place" in classes else "generic")
            pairs.append(TokenPair(
                customer="+".join(c_tokens[i] for i in ci), entry="+".join(e_tokens[j] for j in ej),
                similarity=s, customer_weight=round(sum(cw[i] for i in ci), 3),
                entry_weight=round(sum(ew[j] for j in ej), 3), word_class=klass))
        entry = self.entries[variant.entry]
        effect, note = _country_effect(entry, customer_countries) if pairs else (0.0, "")
        explanation = Explanation(
            customer_name=cust.text, customer_tokens=c_tokens, entry_variant=variant.text,
            entry_tokens=e_tokens, pairs=tuple(pairs),
            unmatched_customer=tuple((t, cw[i]) for i, t in enumerate(c_tokens) if i not in used_c),
            unmatched_entry=tuple((t, ew[j]) for j, t in enumerate(e_tokens) if j not in used_e),
            customer_coverage=round(cover_c, 4), entry_coverage=round(cover_e, 4),
            base_score=round(base, 1), rule=rule, country_effect=effect, country_note=note, score=score,
        )
        return Match(entry=entry, score=score, explanation=explanation)


_FloorTables = tuple[float, list[float], dict[str, tuple[list[int], list[float]]], float,
                     dict[float, tuple[list[float], float]]]


def _rho(reach: float) -> float:
    """The share of both names' weight that must pair for a base score of ``reach`` (penalties
    equal; see :meth:`ScreeningIndex._pruned_candidates`)."""
    p = MISSING_PENALTY
    return reach * p / (50.0 - reach * (0.5 - p))


# (score, pairs as (similarity, customer indexes, entry indexes), customer and entry indexes paired,
# customer and entry coverage, base score, rule)
_Assessment = tuple[float, list[tuple[float, tuple[int, ...], tuple[int, ...]]], set[int], set[int],
                    float, float, float, str]


@dataclass(frozen=True, slots=True)
class _Customer:
    """One name variant of the customer, prepared once for every list variant it is scored against."""

    text: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    total: float
    sims: _SimMap
    units: tuple[tuple[tuple[int, ...], str], ...]  # its tokens, then adjacent pairs joined
    ordered: tuple[str, ...]


def _align(cust: _Customer, variant: _Variant) -> tuple[list[tuple[float, tuple[int, ...], tuple[int, ...]]],
                                                          set[int], set[int]]:
    """One-to-one pairing of tokens (single words, or two adjacent words against one), best first:
    ``(similarity, customer indexes, entry indexes)``.

    Similarities come from the customer's similar-token map (customer token or joined pair ->
    similar list keys), looked up in the variant's units by text, so no string is compared here.
    """
    scored: list[tuple[float, int, tuple[int, ...], tuple[int, ...]]] = []
    units = variant.units
    for ci, ct in cust.units:
        similar = cust.sims.get(ct)
        if not similar:
            continue
        for et, s in similar.items():
            for ej in units.get(et, ()):
                if len(ci) == 2 and len(ej) == 2:
                    continue
                scored.append((-s, -(len(ci) + len(ej)), ci, ej))
    scored.sort()  # best similarity, then more words, then position: the keys are unique
    used_c: set[int] = set()
    used_e: set[int] = set()
    pairs: list[tuple[float, tuple[int, ...], tuple[int, ...]]] = []
    for s, _, ci, ej in scored:
        if not used_c.isdisjoint(ci) or not used_e.isdisjoint(ej):
            continue
        used_c.update(ci)
        used_e.update(ej)
        pairs.append((-s, ci, ej))
    return pairs, used_c, used_e


def _country_effect(entry: ListEntry, customer_countries: frozenset[str]) -> tuple[float, str]:
    entry_countries = {_CountryFamily.of(c) for c in entry.countries}
    if not entry_countries:
        return 0.0, "entry has no address country"
    if not customer_countries:
        return 0.0, "customer country unknown"
    same = sorted(entry_countries & customer_countries)
    if same:
        return COUNTRY_SUPPORT, f"same country {','.join(same)}"
    return COUNTRY_CONFLICT, (f"entry country {','.join(sorted(entry_countries))} differs from "
                              f"customer {','.join(sorted(customer_countries))}")
