"""Near-duplicate structure of the raw wrapper corpora, so gold families are not contradicted by the corpus.

The in-the-wild corpus holds many copies of the same prompt (reposts with a changed persona name,
curly quotes, a dropped sentence), and PyRIT's ``in_the_wild`` templates are the same TrustAIRLab
prompts again. Putting two copies in different gold families would punish a deduplicator for being
right; putting loosely related prompts (two DAN versions) in one family would decide by fiat what
the benchmark is meant to measure. So the builders use two thresholds on exact Jaccard similarity
of word 3-gram sets (NFKC, case-folded, ``\\w+`` words), plus containment for a short prompt
quoted inside a long one:

* **same prompt** (Jaccard >= :data:`SAME_PROMPT_JACCARD`): a corpus entry this close to a chosen
  wrapper is the same prompt; it joins that wrapper's family as a ``corpus_variant`` member;
* **related** (Jaccard >= :data:`RELATED_JACCARD` or containment >= :data:`RELATED_CONTAINMENT`):
  no two chosen wrappers may be related, and an entry related to two chosen wrappers is left out.

Wrappers are chosen greedily (a maximal independent set of the "related" graph, in a seeded
order), which keeps far more distinct wrappers than single-linkage clustering, whose chains merge
hundreds of DAN variants into one component.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

SAME_PROMPT_JACCARD = 0.8
RELATED_JACCARD = 0.3
RELATED_CONTAINMENT = 0.6
SHINGLE_WORDS = 3

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) <= size:
        return frozenset({" ".join(words)})
    return frozenset(
        " ".join(words[index : index + size]) for index in range(len(words) - size + 1)
    )


@dataclass(frozen=True, slots=True)
class Similarity:
    jaccard: float
    containment: float  # intersection over the smaller set

    @property
    def same_prompt(self) -> bool:
        return self.jaccard >= SAME_PROMPT_JACCARD

    @property
    def related(self) -> bool:
        return self.jaccard >= RELATED_JACCARD or self.containment >= RELATED_CONTAINMENT


def similarity(left: frozenset[str], right: frozenset[str]) -> Similarity:
    shared = len(left & right)
    if not shared:
        return Similarity(0.0, 0.0)
    return Similarity(
        jaccard=shared / (len(left) + len(right) - shared),
        containment=shared / min(len(left), len(right)),
    )


class SimilarityGraph:
    """Exact pairwise similarities of a corpus, kept only for related pairs.

    All pairs are compared (about a million for the 1,300 wrappers, a few seconds); a pair that
    shares no shingle costs one set intersection.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self._shingles = [shingles(text) for text in texts]
        self.related: list[dict[int, Similarity]] = [{} for _ in texts]
        for left in range(len(texts)):
            left_set = self._shingles[left]
            for right in range(left + 1, len(texts)):
                pair = similarity(left_set, self._shingles[right])
                if pair.related:
                    self.related[left][right] = pair
                    self.related[right][left] = pair

    def __len__(self) -> int:
        return len(self._shingles)

    def is_related(self, left: int, right: int) -> bool:
        return right in self.related[left]

    def same_prompt(self, left: int, right: int) -> bool:
        pair = self.related[left].get(right)
        return pair is not None and pair.same_prompt

    def related_to_any(self, index: int, others: set[int]) -> bool:
        return not others.isdisjoint(self.related[index])


def choose_distinct(graph: SimilarityGraph, order: Sequence[int], excluded: set[int]) -> list[int]:
    """Greedily pick indices, in ``order``, that are related to no index picked before them."""
    chosen: list[int] = []
    chosen_set: set[int] = set()
    for index in order:
        if index in excluded or graph.related_to_any(index, chosen_set):
            continue
        chosen.append(index)
        chosen_set.add(index)
    return chosen


def corpus_variants(
    graph: SimilarityGraph, wrapper: int, chosen: set[int], pool: set[int]
) -> list[int]:
    """Entries of ``pool`` that are the same prompt as ``wrapper`` and related to no other choice."""
    variants = []
    for other in sorted(graph.related[wrapper]):
        if other in chosen or other not in pool or not graph.same_prompt(wrapper, other):
            continue
        if graph.related_to_any(other, chosen - {wrapper}):
            continue
        variants.append(other)
    return variants
