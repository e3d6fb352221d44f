"""The triage pipeline: analyse one report, place it in the index, rank it.

``TriageEngine.triage`` is the one entry point for a single report (the background task);
``triage_many`` runs a batch and settles family names after every merge (the CLI, benchmarks).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from clearinghouse.triage.engine import normalize
from clearinghouse.triage.engine.classify import Classification, Texts, classify
from clearinghouse.triage.engine.index import SimilarityIndex
from clearinghouse.triage.engine.priority import prioritise
from clearinghouse.triage.engine.sketch import Signature, band_keys, signature
from clearinghouse.triage.engine.taxonomy import mapping_for
from clearinghouse.triage.engine.types import (
    Label,
    Priority,
    Similar,
    Target,
    TriageInput,
    TriageResult,
    Turn,
)

FAMILY_THRESHOLD = 0.5  # estimated Jaccard of wrapper shingles to join a family
DUPLICATE_THRESHOLD = 0.9  # ... and, with the same payload, to call it a duplicate
SIMILAR_THRESHOLD = 0.3
SIMILAR_LIMIT = 5
# A wrapper shorter than this (letters and digits) is no technique to group by: the whole
# prompt is compared instead, so plain requests with different objectives stay apart.
MIN_WRAPPER_CHARS = 40

_REFUSAL_START = (
    "i'm sorry", "i am sorry", "i cannot", "i can't", "i can not", "i won't", "i will not",
    "sorry, but", "as an ai", "i'm not able", "i am not able", "i apologize", "i must decline",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything about one report that does not depend on other reports."""

    item: TriageInput
    texts: Texts
    wrapper: str
    payload: str
    signature: Signature
    band_keys: npt.NDArray[np.uint64]
    exact_key: bytes
    payload_key: int
    target_keys: frozenset[tuple[str, str]]


def triage_input_from_report(ref: str, report: Mapping[str, Any]) -> TriageInput:
    """A ``TriageInput`` from a report in the API's JSON schema (already validated or not)."""
    poc = report.get("poc") or {}
    claims = report.get("claims") or {}
    return TriageInput(
        ref=ref,
        title=str(report.get("title") or ""),
        description=str(report.get("description") or ""),
        targets=tuple(
            Target(
                str(t.get("vendor") or ""), str(t.get("model") or ""), str(t.get("version") or "")
            )
            for t in report.get("targets") or ()
            if isinstance(t, Mapping)
        ),
        system=str(poc.get("system") or ""),
        turns=tuple(
            Turn(str(turn.get("role") or "user"), str(turn.get("content") or ""))
            for turn in poc.get("turns") or ()
            if isinstance(turn, Mapping)
        ),
        objective=str(poc.get("objective") or ""),
        context_documents=tuple(str(doc) for doc in poc.get("context_documents") or ()),
        observed_output=str(report.get("observed_output") or ""),
        claimed_success_rate=claims.get("success_rate"),
        claimed_attempts=claims.get("attempts"),
        reporter_threat_type=str(report.get("threat_type") or ""),
    )


def looks_like_refusal(folded_output: str) -> bool:
    head = folded_output[:200]
    return any(head.startswith(prefix) or f" {prefix}" in head[:80] for prefix in _REFUSAL_START)


def analyse(item: TriageInput) -> Analysis:
    """Normalise, decode, split and sketch one report; classify it."""
    attack_parts = [turn.content for turn in item.turns if turn.role in {"user", "tool"}]
    raw_attack = "\n\n".join(attack_parts)
    raw_context = "\n\n".join(item.context_documents)
    decoded = normalize.decode_layers(raw_attack)
    decoded_context = normalize.decode_layers(raw_context) if raw_context else None
    folded_attack = normalize.fold_with_statistics(decoded.text)
    attack = folded_attack.text
    context = normalize.fold(decoded_context.text) if decoded_context else ""
    objective = (
        normalize.fold(normalize.decode_layers(item.objective).text) if item.objective else ""
    )
    output = normalize.fold(item.observed_output) if item.observed_output else ""
    # No rule reads the system prompt or the reporter's own words (title, description): the
    # attack is judged by what it does, not by what its reporter says it does.

    comparable = f"{attack}\n\n{context}" if context else attack
    wrapper, payload = normalize.split_wrapper_payload(comparable, objective)
    full_stream = normalize.comparison_stream(comparable)
    payload_stream = normalize.comparison_stream(payload)
    # The wrapper is the prompt with the payload cut out, so its stream is the full stream
    # without the payload's: one pass over the text instead of two.
    if payload_stream and payload_stream in full_stream:
        wrapper_stream = full_stream.replace(payload_stream, "", 1)
    else:
        wrapper_stream = normalize.comparison_stream(wrapper)
    if len(wrapper_stream) < MIN_WRAPPER_CHARS:
        wrapper_stream = full_stream
    wrapper_signature = signature(wrapper_stream)
    texts = Texts(
        attack=attack,
        context=context,
        objective=objective,
        output=output,
        user_turns=sum(1 for turn in item.turns if turn.role == "user"),
        assistant_turns=sum(1 for turn in item.turns if turn.role == "assistant"),
        tool_turns=sum(1 for turn in item.turns if turn.role == "tool"),
        decoded_layers=decoded.layers + (decoded_context.layers if decoded_context else ()),
        hidden_characters=folded_attack.hidden,
        confusables=folded_attack.confusables,
        non_latin_letters=folded_attack.non_latin,
        leet_words=folded_attack.leet_words,
        all_text=f"{attack}\n{context}\n{objective}\n{output}",
    )
    return Analysis(
        item=item,
        texts=texts,
        wrapper=wrapper,
        payload=payload,
        signature=wrapper_signature,
        band_keys=band_keys(wrapper_signature),
        exact_key=hashlib.blake2b(full_stream.encode("utf-8"), digest_size=16).digest(),
        payload_key=int.from_bytes(
            hashlib.blake2b(payload_stream.encode("utf-8"), digest_size=8).digest(), "big"
        ),
        target_keys=frozenset(
            target.key() for target in item.targets if target.model or target.vendor
        ),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A report analysed and classified, ready to be placed in an index (picklable)."""

    analysis: Analysis
    labels: Classification
    priority: Priority


def prepare(item: TriageInput) -> Prepared:
    """All the per-report work: the part that runs in parallel."""
    analysis = analyse(item)
    labels = classify(analysis.texts, item.reporter_threat_type)
    vendors = {target.vendor.casefold() for target in item.targets if target.vendor}
    models = {target.key() for target in item.targets if target.model}
    priority = prioritise(
        threat_type=labels.threat_type.value,
        harm_category=labels.harm_category.value,
        vendors=len(vendors),
        models=len(models),
        user_turns=analysis.texts.user_turns,
        has_poc=bool(item.turns),
        claimed_success_rate=item.claimed_success_rate,
        output_looks_compliant=bool(analysis.texts.output)
        and not looks_like_refusal(analysis.texts.output),
    )
    return Prepared(analysis=analysis, labels=labels, priority=priority)


class TriageEngine:
    """Triage reports against an index that grows with every report it sees."""

    def __init__(
        self, index: SimilarityIndex | None = None, *, family_names: dict[int, str] | None = None
    ) -> None:
        self.index = index if index is not None else SimilarityIndex()
        # Names for families that already exist elsewhere (the database), by their root position.
        self.family_names = family_names or {}

    def family_name(self, index: int) -> str:
        root = self.index.family_of(index)
        if root in self.family_names:
            return self.family_names[root]
        digest = hashlib.blake2b(self.index.ref(root).encode("utf-8"), digest_size=6).hexdigest()
        return f"fam-{digest}"

    def triage(self, item: TriageInput) -> TriageResult:
        return self.place(prepare(item))[0]

    def triage_many(self, items: Iterable[TriageInput], *, workers: int = 1) -> list[TriageResult]:
        """Triage in order; family names are settled after the last report (families may merge).

        With ``workers > 1`` the per-report work runs in that many processes while this one keeps
        the index: placement must stay sequential for families to be deterministic.
        """
        placed = [self.place(prepared) for prepared in prepare_many(items, workers=workers)]
        return [replace(result, family=self.family_name(position)) for result, position in placed]

    def place(self, prepared: Prepared) -> tuple[TriageResult, int]:
        """Put a prepared report in the index; returns its result and its index position."""
        analysis = prepared.analysis
        index = self.index
        ids, scores = index.query_arrays(
            analysis.signature, minimum=SIMILAR_THRESHOLD, keys=analysis.band_keys
        )
        overlapping = index.overlapping_mask(ids, analysis.target_keys)
        family_members = ids[(scores >= FAMILY_THRESHOLD) & overlapping]
        duplicate = index.exact_match(analysis.exact_key)
        if duplicate is not None and not index.overlapping(duplicate, analysis.target_keys):
            duplicate = None  # the same text against other models is another finding
        if duplicate is None:
            near = ids[
                (scores >= DUPLICATE_THRESHOLD)
                & overlapping
                & (index.payload_keys(ids) == np.uint64(analysis.payload_key))
            ]
            duplicate = int(near[0]) if near.size else None
        joined = family_members.tolist()
        if duplicate is not None:
            joined.append(duplicate)
        roots = index.family_roots(np.asarray(joined, dtype=np.int64))
        position = index.add(
            ref=analysis.item.ref,
            signature=analysis.signature,
            targets=analysis.target_keys,
            exact_key=analysis.exact_key,
            payload_key=analysis.payload_key,
            join=roots.tolist(),
            keys=analysis.band_keys,
        )
        similar = tuple(
            Similar(index.ref(other), round(score, 3))
            for other, score in zip(
                ids[:SIMILAR_LIMIT].tolist(), scores[:SIMILAR_LIMIT].tolist(), strict=True
            )
        )
        return (
            build_result(
                prepared,
                family=self.family_name(position),
                duplicate_of=index.ref(duplicate) if duplicate is not None else None,
                similar=similar,
            ),
            position,
        )


def prepare_many(items: Iterable[TriageInput], *, workers: int = 1) -> Iterator[Prepared]:
    """``prepare`` over many reports, in order, in ``workers`` processes when above one."""
    if workers <= 1:
        yield from (prepare(item) for item in items)
        return
    context = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # Bounded look-ahead keeps memory flat on huge inputs: at most a few chunks in flight.
        iterator = iter(items)
        chunk = 64
        pending: deque[Future[list[_Packed]]] = deque()
        while True:
            batch = list(itertools.islice(iterator, chunk))
            if batch:
                pending.append(pool.submit(_prepare_batch, [_pack_input(i) for i in batch]))
            if not pending:
                return
            if len(pending) > workers * 3 or not batch:
                yield from (_unpack(packed) for packed in pending.popleft().result())


# Between processes a prepared report travels as a tuple of plain values: pickling nested
# dataclasses and numpy arrays cost about as much as a tenth of the work being shipped.
_Packed = tuple[Any, ...]


def _label_tuple(label: Label) -> tuple[str, float, tuple[str, ...]]:
    return (label.value, label.confidence, label.evidence)


def _pack(prepared: Prepared) -> _Packed:
    analysis, labels, priority = prepared.analysis, prepared.labels, prepared.priority
    return (
        analysis.item.ref,
        analysis.wrapper,
        analysis.payload,
        analysis.signature.tobytes(),
        analysis.band_keys.tobytes(),
        analysis.exact_key,
        analysis.payload_key,
        tuple(analysis.target_keys),
        analysis.texts.decoded_layers,
        _label_tuple(labels.threat_type),
        tuple(_label_tuple(technique) for technique in labels.techniques),
        _label_tuple(labels.harm_category),
        (priority.ssvc, priority.jef, priority.inputs),
    )


def _unpack(packed: _Packed) -> Prepared:
    (ref, wrapper, payload, signature_bytes, keys_bytes, exact_key, payload_key, targets,
     layers, threat, techniques, harm, (ssvc, jef, inputs)) = packed  # fmt: skip
    analysis = Analysis(
        item=TriageInput(ref=ref),
        texts=Texts(attack="", decoded_layers=layers),
        wrapper=wrapper,
        payload=payload,
        signature=np.frombuffer(signature_bytes, dtype=np.uint32),
        band_keys=np.frombuffer(keys_bytes, dtype=np.uint64),
        exact_key=exact_key,
        payload_key=payload_key,
        target_keys=frozenset(targets),
    )
    labels = Classification(
        threat_type=Label(*threat),
        techniques=tuple(Label(*technique) for technique in techniques),
        harm_category=Label(*harm),
    )
    return Prepared(analysis=analysis, labels=labels, priority=Priority(ssvc, jef, inputs))


def _pack_input(item: TriageInput) -> _Packed:
    return (
        item.ref, item.title, item.description,
        tuple((t.vendor, t.model, t.version) for t in item.targets),
        item.system, tuple((t.role, t.content) for t in item.turns), item.objective,
        item.context_documents, item.observed_output, item.claimed_success_rate,
        item.claimed_attempts, item.reporter_threat_type,
    )  # fmt: skip


def _unpack_input(packed: _Packed) -> TriageInput:
    (ref, title, description, targets, system, turns, objective, documents, output, rate,
     attempts, claim) = packed  # fmt: skip
    return TriageInput(
        ref, title, description, tuple(Target(*t) for t in targets), system,
        tuple(Turn(*t) for t in turns), objective, documents, output, rate, attempts, claim,
    )  # fmt: skip


def _prepare_batch(batch: list[_Packed]) -> list[_Packed]:
    return [_pack(prepare(_unpack_input(packed))) for packed in batch]


def build_result(
    prepared: Prepared,
    *,
    family: str,
    duplicate_of: str | None,
    similar: Sequence[Similar],
) -> TriageResult:
    analysis = prepared.analysis
    labels = prepared.labels
    threat = labels.threat_type
    mapping = mapping_for(threat.value)
    return TriageResult(
        ref=analysis.item.ref,
        threat_type=threat,
        owasp=mapping.owasp,
        atlas=mapping.atlas,
        avid=mapping.avid,
        cwe=mapping.cwe,
        techniques=labels.techniques,
        harm_category=labels.harm_category,
        family=family,
        duplicate_of=duplicate_of,
        similar=tuple(similar),
        priority=prepared.priority,
        normalized_wrapper=analysis.wrapper[:2000],
        payload=analysis.payload[:2000],
        decoded_layers=analysis.texts.decoded_layers,
    )


def result_to_json(result: TriageResult) -> dict[str, Any]:
    """The CLI contract's line for one report (``clearinghouse triage``)."""
    return {
        "ref": result.ref,
        "threat_type": result.threat_type.value,
        "owasp": list(result.owasp),
        "atlas": list(result.atlas),
        "avid": list(result.avid),
        "cwe": list(result.cwe),
        "techniques": [technique.value for technique in result.techniques],
        "harm_category": result.harm_category.value,
        "family": result.family,
        "duplicate_of": result.duplicate_of,
        "similar": [{"ref": similar.ref, "score": similar.score} for similar in result.similar],
        "priority": {"ssvc": result.priority.ssvc, "jef": result.priority.jef},
    }


__all__ = [
    "Analysis",
    "Label",
    "Prepared",
    "TriageEngine",
    "analyse",
    "prepare",
    "prepare_many",
    "result_to_json",
    "triage_input_from_report",
]
