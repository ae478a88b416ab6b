"""Benchmark: screen 10,000 customers against a 20,000-entry restricted-party list.

Not a test (no timing is asserted anywhere). Prints one line and writes a JSON report; wall and
CPU seconds are both reported, since a loaded machine inflates wall time.

    .venv/bin/python bench/bench_screening.py [--entries 20000] [--customers 10000] [--out FILE]

Two measurements:
  matcher   build the ScreeningIndex and score every customer in memory
  store     the real path of ``gatekeeper screening load``: parse a CSV of the list, replace the
            entries in a SQLite store, re-screen every stored profile and write the hits, in one
            transaction (a temporary directory; nothing is left behind)

The list is synthetic but shaped like the CSL: Chinese-style names built from pinyin syllables,
a place word and generic words plus a legal form, a few alt names, ISO address countries. About 5%
of the customers are listed names written differently (word order, legal form, punctuation, one typo);
of the rest a quarter are drawn like the list's names (same syllables, places and generic words, so
they share many words with it) and the others from a pool of Western-style company words.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gatekeeper.model import CustomerProfile
from gatekeeper.screening import ScreeningIndex, load_list, parse_file
from gatekeeper.screening.parse import CSV_COLUMNS


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SYLLABLES = _words("an ba bao bei bin bo cai chang chen cheng chun da dan de ding dong fa fang fei feng fu "
                   "gang gao guang gui guo hai han hang hao he heng hong hua huan hui jia jian jiang jie jin "
                   "jing jun kai kang ke kun lan lei li lian liang lin ling long lu luo mei ming nan ning pan "
                   "peng ping qi qian qiang qing quan rong rui sen shan shang sheng shi shu si song tai tian "
                   "tong wan wei wen xi xia xiang xin xing xu ya yang yi ying yong yu yuan yun ze zhan zhao "
                   "zhen zheng zhi zhong zhou")
PLACES = _words("Beijing Shanghai Shenzhen Guangzhou Hangzhou Tianjin Wuhan Chengdu Nanjing Hefei Suzhou "
                "Dalian Moscow Tehran Minsk Dubai Hong Kong")
GENERIC = _words("Technology Trading Electronics International Industrial Group Holdings Science Information "
                 "Equipment Development Import Export Engineering Systems Digital Logistics")
FORMS = ("Co., Ltd.", "Company Limited", "Ltd.", "LLC", "Corporation", "Inc.", "GmbH", "JSC",
         "Limited Liability Company")
COUNTRIES = ("CN", "CN", "CN", "HK", "RU", "IR", "AE", "BY", "TR", "DE", "SG")
SOURCES = (("Entity List (EL) - Bureau of Industry and Security", 0.5),
           ("Specially Designated Nationals (SDN) - Treasury Department", 0.3),
           ("Military End User (MEU) List - Bureau of Industry and Security", 0.1),
           ("Unverified List (UVL) - Bureau of Industry and Security", 0.1))


WESTERN = _words("Acme Apex Atlas Beacon Birch Cedar Cobalt Crest Delta Ember Falcon Fjord Granite Harbor "
                 "Helix Horizon Iris Juniper Kestrel Lumen Maple Meridian Nimbus Northwind Onyx Orion "
                 "Pioneer Quartz Raven Redwood Sable Sequoia Sierra Solstice Summit Tandem Tundra Umber "
                 "Vanguard Vertex Willow Zenith Analytics Render Robotics Studio Labs Cloud Data Bio Motion "
                 "Vision Media")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3)))).capitalize()


def _name(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.6:
        parts.append(rng.choice(PLACES))
    parts += [_word(rng) for _ in range(rng.choice((1, 1, 2)))]
    parts += rng.sample(GENERIC, rng.choice((1, 2, 2, 3)))
    return " ".join(parts) + " " + rng.choice(FORMS)


def _customer_name(rng: random.Random) -> str:
    """Most customers are not named like Chinese trading companies; a quarter are."""
    if rng.random() < 0.25:
        return _name(rng)
    parts = rng.sample(WESTERN, rng.choice((1, 2, 2, 3)))
    parts += rng.sample(GENERIC, rng.choice((0, 1, 1, 2)))
    return " ".join(parts) + " " + rng.choice(FORMS)


def _variant(name: str, rng: random.Random) -> str:
    """The same party written differently: legal form, word order, punctuation or one typo."""
    words = name.replace(",", "").replace(".", "").split()
    kind = rng.choice(("form", "order", "punct", "typo"))
    if kind == "form":
        return " ".join(words[:-1]) + " " + rng.choice(FORMS)
    if kind == "order" and len(words) > 2:
        core = words[:-1]
        rng.shuffle(core)
        return " ".join(core)
    if kind == "typo":
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        w = words[longest]
        i = rng.randrange(1, len(w) - 1)
        words[longest] = w[:i] + w[i + 1:]
        return " ".join(words)
    return name.upper().replace(" ", "-", 1)


def make_list(n: int, rng: random.Random) -> list[dict[str, str]]:
    rows = []
    weights = [w for _, w in SOURCES]
    for i in range(n):
        source = rng.choices([s for s, _ in SOURCES], weights)[0]
        name = _name(rng)
        alts = [_name(rng) for _ in range(rng.choice((0, 0, 1, 2)))]
        country = rng.choice(COUNTRIES)
        row = {c: "" for c in CSV_COLUMNS}
        row.update({"_id": f"bench-{i:06d}", "source": source, "type": "Entity", "name": name,
                    "alt_names": "; ".join(alts), "addresses": f"No. {i} Road, {rng.choice(PLACES)}, {country}",
                    "start_date": "2020-01-01"})
        rows.append(row)
    return rows


def make_customers(n: int, entries: list[dict[str, str]], rng: random.Random) -> list[CustomerProfile]:
    out = []
    for i in range(n):
        if rng.random() < 0.05:
            e = rng.choice(entries)
            legal = _variant(e["name"], rng)
            country = e["addresses"].rsplit(", ", 1)[-1]
        else:
            legal = _customer_name(rng)
            country = rng.choice(("US", "DE", "SG", "JP", "CN", "GB"))
        out.append(CustomerProfile("aws", f"{i:012d}", legal, country, country, country, "verified"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--threshold", type=float, default=88.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_screening.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = make_list(args.entries, rng)
    customers = make_customers(args.customers, rows, rng)

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "consolidated.csv"
        with csv_path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(rows)

        t0 = time.perf_counter()
        parsed = parse_file(csv_path)
        t_parse = time.perf_counter() - t0

        t0, c0 = time.perf_counter(), time.process_time()
        index = ScreeningIndex(parsed.entries)
        t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        hits = sum(len(index.match(c.legal_name, c.countries, min_score=args.threshold)) for c in customers)
        t_match, c_match = time.perf_counter() - t0, time.process_time() - c0

        # The real load path: SQLite store, one transaction, hits written (the index is rebuilt).
        t0 = time.perf_counter()
        result = load_list(Path(tmp) / "state.db", parsed, threshold=args.threshold, profiles=lambda: customers)
        t_load = time.perf_counter() - t0

    report = {
        "benchmark": "screening", "entries": args.entries, "customers": args.customers,
        "threshold": args.threshold, "seed": args.seed,
        "parse_seconds": round(t_parse, 3), "index_seconds": round(t_index, 3),
        "index_cpu_seconds": round(c_index, 3), "match_seconds": round(t_match, 3),
        "match_cpu_seconds": round(c_match, 3),
        "customers_per_second": round(args.customers / t_match, 1) if t_match else None,
        "matcher_hits": hits, "store_load_seconds": round(t_load, 3),
        "store_open_hits": result.run.open_hits,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"screening: {args.customers} customers x {args.entries} entries: index {t_index:.2f}s "
          f"(cpu {c_index:.2f}s), match {t_match:.2f}s (cpu {c_match:.2f}s, "
          f"{report['customers_per_second']}/s), {hits} hits; "
          f"store load+rescreen {t_load:.2f}s -> {args.out}")


if __name__ == "__main__":
    main()
