"""Name normalisation for restricted-party screening.

A name becomes a tuple of upper-case ASCII tokens: diacritics folded (``unicodedata``), punctuation
removed (dotted acronyms such as ``S.A.`` or ``Z.T.E.`` joined first, apostrophes dropped so that
``Xi'an`` stays one word), legal forms removed (``CO., LTD.``, ``GMBH``, ``LIMITED LIABILITY
COMPANY`` ...) and connecting words dropped (``OF``, ``THE``, ``AND``). What was removed is kept so
that a score can say so.

Two word classes get a fixed low weight in matching (see :mod:`gatekeeper.screening.match`):
``GENERIC_WORDS`` (``TRADING``, ``TECHNOLOGY``, ``GROUP`` ...) and ``PLACE_WORDS`` (countries,
provinces and large cities that open many company names, ``SHENZHEN``, ``BEIJING``). Everything
else is weighted by its rarity across the loaded list.

``phonetic_key`` folds common transliteration variants (``KH``/``H``, ``ZH``/``J``, ``W``/``V``,
``Y``/``I``, doubled letters) so ``ROSTEC`` and ``ROSTEKH`` are close; it is used only to compare two
tokens, at a small discount, never to decide a match on its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Letters NFKD does not decompose into an ASCII base letter.
_SPECIAL_LETTERS = str.maketrans({
    "ß": "SS", "ẞ": "SS", "Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE", "œ": "OE",
    "Ł": "L", "ł": "L", "Đ": "D", "đ": "D", "Ð": "D", "ð": "D", "Þ": "TH", "þ": "TH", "ı": "I",
    "Ħ": "H", "ħ": "H", "Ŀ": "L", "ŀ": "L",
})
_ACRONYM = re.compile(r"\b(?:[A-Z0-9]\.){2,}")
_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")

# Legal forms written as several words; removed wherever they occur (longest first).
_MULTIWORD_FORMS: tuple[tuple[str, ...], ...] = tuple(sorted((
    ("LIMITED", "LIABILITY", "COMPANY"),
    ("LIMITED", "LIABILITY", "CO"),
    ("LIMITED", "LIABILITY", "PARTNERSHIP"),
    ("LIMITED", "PARTNERSHIP"),
    ("PUBLIC", "JOINT", "STOCK", "COMPANY"),
    ("OPEN", "JOINT", "STOCK", "COMPANY"),
    ("CLOSED", "JOINT", "STOCK", "COMPANY"),
    ("JOINT", "STOCK", "COMPANY"),
    ("JOINT", "STOCK", "CO"),
    ("PUBLIC", "LIMITED", "COMPANY"),
    ("PRIVATE", "LIMITED", "COMPANY"),
    ("PRIVATE", "LIMITED"),
    ("PTY", "LTD"),
    ("PTE", "LTD"),
    ("SDN", "BHD"),
    ("CO", "LTD"),
    ("CO", "LIMITED"),
    ("CO", "INC"),
    ("CO", "LLC"),
    ("CO", "KG"),
    ("KABUSHIKI", "KAISHA"),
    ("AKTIENGESELLSCHAFT",),
    ("GESELLSCHAFT", "MIT", "BESCHRANKTER", "HAFTUNG"),
    ("SOCIETE", "ANONYME"),
    ("SOCIEDAD", "ANONIMA"),
    ("FZ", "LLC"),
    ("S", "A"),
    ("S", "L"),
    ("S", "R", "L"),
    ("S", "P", "A"),
), key=len, reverse=True))

# Legal forms that are never part of a distinctive name: removed wherever they occur.
_FORMS_ANYWHERE = frozenset({
    "LTD", "LTDA", "LLC", "LLP", "INC", "INCORPORATED", "CORP", "CORPORATION", "GMBH", "PLC",
    "PJSC", "OJSC", "CJSC", "JSC", "OAO", "ZAO", "OOO", "PAO", "SARL", "SRL", "SPA", "BV", "PTE",
    "PTY", "BHD", "FZE", "FZCO", "DMCC", "MBH", "LIMITED", "KFT", "ZRT", "SPZOO", "AEBE",
})
# Short or ambiguous legal forms: removed only as the first or last word.
_FORMS_AT_ENDS = frozenset({
    "CO", "COMPANY", "AG", "SA", "SAS", "AS", "AB", "NV", "AO", "KG", "LP", "OY", "OYJ", "KK", "SL",
    "SE", "SC", "TOO", "UAB", "EOOD", "OU", "DOO", "SDN", "PVT",
})
# Common abbreviations written out, so that "Intl" pairs with "International".
_ABBREVIATIONS = {
    "INTL": "INTERNATIONAL", "INT'L": "INTERNATIONAL", "MFG": "MANUFACTURING", "TECH": "TECHNOLOGY",
    "DEPT": "DEPARTMENT", "INST": "INSTITUTE", "UNIV": "UNIVERSITY", "ACAD": "ACADEMY",
    "NATL": "NATIONAL", "GRP": "GROUP", "HLDGS": "HOLDINGS", "HLDG": "HOLDING", "IND": "INDUSTRY",
    "INDS": "INDUSTRIES", "ELEC": "ELECTRONICS", "ENGG": "ENGINEERING", "SVCS": "SERVICES",
    "SCI": "SCIENCE", "TECHS": "TECHNOLOGIES", "MGMT": "MANAGEMENT", "INVT": "INVESTMENT",
}
_STOPWORDS = frozenset({"OF", "THE", "AND", "FOR", "DE", "DU", "DES", "LA", "LE", "DEL", "DI", "DA", "ET"})

# Words too common in company names to identify one; weighted low and never a match on their own.
GENERIC_WORDS = frozenset({
    "COMPANY", "CORPORATION", "CORP", "CO", "LTD", "TRADING", "TRADE", "TRADERS", "TECHNOLOGY",
    "TECHNOLOGIES", "TECH", "TECHNICAL", "GROUP", "INTERNATIONAL", "INTL", "HOLDING", "HOLDINGS",
    "INDUSTRIAL", "INDUSTRY", "INDUSTRIES", "ENTERPRISE", "ENTERPRISES", "DEVELOPMENT", "SCIENCE",
    "SCIENCES", "SCIENTIFIC", "RESEARCH", "INSTITUTE", "ENGINEERING", "SERVICE", "SERVICES", "SYSTEM",
    "SYSTEMS", "SOLUTION", "SOLUTIONS", "GLOBAL", "IMPORT", "EXPORT", "MANUFACTURING", "PRODUCTS",
    "PRODUCT", "EQUIPMENT", "INVESTMENT", "INVESTMENTS", "PARTNERS", "ASSOCIATES", "MANAGEMENT",
    "CONSULTING", "LOGISTICS", "SHIPPING", "NETWORK", "NETWORKS", "DIGITAL", "ELECTRONIC",
    "ELECTRONICS", "COMMUNICATION", "COMMUNICATIONS", "INFORMATION", "SOFTWARE", "MACHINERY",
    "MATERIALS", "ENERGY", "RESOURCES", "CAPITAL", "VENTURES", "BRANCH", "OFFICE", "CENTER", "CENTRE",
    "LABORATORY", "LABORATORIES", "LAB", "LABS", "UNIVERSITY", "ACADEMY", "COLLEGE", "SCHOOL",
    "BUREAU", "DEPARTMENT", "FACTORY", "PLANT", "WORKS", "SUPPLY", "SUPPLIES", "DISTRIBUTION", "SALES",
    "MARKETING", "AGENCY", "FIRM", "NEW", "FIRST", "GENERAL", "NATIONAL", "UNITED", "ADVANCED",
    "INNOVATION", "INNOVATIONS", "SMART", "NO", "ECONOMIC", "COMMERCIAL", "COMMERCE", "BUSINESS",
    "INDUSTRIALIZATION", "APPLIED", "SUBSIDIARY", "AFFILIATE", "JOINT", "VENTURE", "STOCK",
    "SOCIETE", "SOCIEDAD", "COMPAGNIE", "COMPANIA", "GESELLSCHAFT", "FIRMA", "KOMPANIYA",
    "OBSHCHESTVO", "ZAVOD", "HANDELS", "HANDEL", "LIMITED", "STATE", "STATES",
})

# Countries, regions and large cities that open many company names; weighted low.
PLACE_WORDS = frozenset({
    # countries and demonyms most frequent on the lists
    "CHINA", "CHINESE", "PRC", "HONG", "KONG", "HK", "MACAU", "MACAO", "RUSSIA", "RUSSIAN", "IRAN",
    "IRANIAN", "SYRIA", "SYRIAN", "KOREA", "KOREAN", "DPRK", "BELARUS", "BELARUSIAN", "VENEZUELA",
    "CUBA", "PAKISTAN", "UAE", "EMIRATES", "TURKEY", "TURKIYE", "ASIA", "ASIAN", "EUROPE", "EURO",
    "PACIFIC", "AMERICA", "AMERICAN", "EURASIA", "MIDDLE", "EAST", "WEST", "NORTH", "SOUTH", "EASTERN",
    "WESTERN", "NORTHERN", "SOUTHERN", "CENTRAL", "DEUTSCHLAND", "GERMANY", "SINGAPORE", "MALAYSIA",
    "INDIA", "JAPAN", "TAIWAN", "USA", "US", "UK", "BRITISH", "EMIRATE", "DUBAI", "SHARJAH",
    # Chinese provinces and large cities
    "BEIJING", "PEKING", "SHANGHAI", "SHENZHEN", "GUANGZHOU", "CANTON", "HANGZHOU", "TIANJIN", "WUHAN",
    "CHENGDU", "CHONGQING", "NANJING", "XIAN", "HEFEI", "SUZHOU", "DALIAN", "QINGDAO", "XIAMEN",
    "JINAN", "HARBIN", "CHANGSHA", "ZHENGZHOU", "SHENYANG", "KUNMING", "NANCHANG", "FUZHOU", "NINGBO",
    "WUXI", "DONGGUAN", "FOSHAN", "ZHUHAI", "CHANGCHUN", "TAIYUAN", "MIANYANG", "GUANGDONG", "JIANGSU",
    "ZHEJIANG", "SHANDONG", "SICHUAN", "HUBEI", "HUNAN", "HENAN", "HEBEI", "FUJIAN", "ANHUI",
    "LIAONING", "JILIN", "SHAANXI", "SHANXI", "YUNNAN", "GUANGXI", "XINJIANG", "JIANGXI", "GUIZHOU",
    "HAINAN", "GANSU", "HEILONGJIANG", "INNER", "MONGOLIA",
    # Russia, Iran and others
    "MOSCOW", "MOSKVA", "PETERSBURG", "SANKT", "SAINT", "NOVOSIBIRSK", "YEKATERINBURG", "KAZAN",
    "TEHRAN", "ISFAHAN", "MINSK", "PYONGYANG", "DAMASCUS", "CARACAS", "ISTANBUL", "KARACHI",
})


def _singulars() -> dict[str, str]:
    """Plural generic words -> singular (``TECHNOLOGIES`` -> ``TECHNOLOGY``), so that they pair."""
    out: dict[str, str] = {}
    for w in GENERIC_WORDS:
        if w.endswith("IES") and w[:-3] + "Y" in GENERIC_WORDS:
            out[w] = w[:-3] + "Y"
        elif w.endswith("S") and w[:-1] in GENERIC_WORDS:
            out[w] = w[:-1]
    return out


_SINGULAR = _singulars()


@dataclass(frozen=True, slots=True)
class NormalizedName:
    """A name as tokens, with the legal forms and connecting words that were removed."""

    tokens: tuple[str, ...]
    removed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def fold(text: str) -> str:
    """Upper-case ASCII-ish text: diacritics removed (``Société`` -> ``SOCIETE``), ``ß`` -> ``SS``."""
    if text.isascii():
        return text.upper()
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.translate(_SPECIAL_LETTERS).upper()


def tokenize(text: str) -> list[str]:
    """Folded tokens, before legal forms are removed."""
    s = fold(text).replace("&", " AND ").replace("+", " AND ")
    s = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), s)
    s = _APOSTROPHES.sub("", s)
    return [_canonical(t) for t in _NON_ALNUM.split(s) if t]


def _canonical(token: str) -> str:
    token = _ABBREVIATIONS.get(token, token)
    return _SINGULAR.get(token, token)


# Multi-word forms by their first word, longest first.
_FORMS_BY_FIRST: dict[str, tuple[tuple[str, ...], ...]] = {}
for _form in _MULTIWORD_FORMS:
    _FORMS_BY_FIRST[_form[0]] = (*_FORMS_BY_FIRST.get(_form[0], ()), _form)


def _strip_forms(tokens: list[str]) -> tuple[list[str], list[str]]:
    removed: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for form in _FORMS_BY_FIRST.get(tokens[i], ()):
            n = len(form)
            if tuple(tokens[i:i + n]) == form:
                removed.append(" ".join(form))
                i += n
                break
        else:
            if tokens[i] in _FORMS_ANYWHERE:
                removed.append(tokens[i])
            else:
                out.append(tokens[i])
            i += 1
    # Short forms (CO, AG, SA, COMPANY) only at the ends, where they are legal forms and not words.
    while out and out[-1] in _FORMS_AT_ENDS:
        removed.append(out.pop())
    while out and out[0] in _FORMS_AT_ENDS:
        removed.append(out.pop(0))
    return out, removed


def normalize_name(name: str) -> NormalizedName:
    """Tokens of ``name`` for matching; never empty for a name that has any letter or digit.

    A name made only of legal forms or connecting words (``"Company Ltd"``) keeps its words rather
    than vanishing: an empty name would match nothing and hide the entry.
    """
    raw = tokenize(name)
    stripped, removed = _strip_forms(raw)
    kept = [t for t in stripped if t not in _STOPWORDS]
    removed += [t for t in stripped if t in _STOPWORDS]
    if kept:
        return NormalizedName(tuple(kept), tuple(removed))
    fallback = [t for t in raw if t not in _STOPWORDS] or raw
    return NormalizedName(tuple(fallback), ())


def split_parenthetical(name: str) -> tuple[str, list[str]]:
    """``"SMIC Corp (Semiconductor Manufacturing)"`` -> ``("SMIC Corp", ["Semiconductor Manufacturing"])``."""
    inner = re.findall(r"\(([^()]*)\)", name)
    outer = re.sub(r"\([^()]*\)", " ", name)
    return " ".join(outer.split()), [s.strip() for s in inner if s.strip()]


def word_class(token: str) -> str:
    """``generic``, ``place`` or ``distinctive``."""
    if token in GENERIC_WORDS:
        return "generic"
    if token in PLACE_WORDS:
        return "place"
    return "distinctive"


_PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    ("SHCH", "SH"), ("TSCH", "J"), ("DZH", "J"), ("TCH", "J"), ("ZH", "J"), ("CH", "J"), ("DJ", "J"),
    ("KH", "H"), ("PH", "F"), ("TS", "Z"), ("TZ", "Z"), ("CK", "K"), ("Q", "K"), ("C", "K"),
    ("X", "KS"), ("W", "V"), ("Y", "I"), ("OU", "U"), ("OO", "U"), ("EE", "I"),
)
_DOUBLED = re.compile(r"(.)\1+")


def phonetic_key(token: str) -> str:
    """A coarse transliteration-insensitive form of an upper-case token (``ROSTEKH`` -> ``ROSTEH``)."""
    key = token
    for src, dst in _PHONETIC_RULES:
        key = key.replace(src, dst)
    return _DOUBLED.sub(r"\1", key)
