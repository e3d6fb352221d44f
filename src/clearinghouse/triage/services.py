"""Triage writes: run the engine on a report and keep its result; analysts' corrections.

The engine (``triage.engine``) is pure; this module is where its results meet the database:
families are rows, the similarity index is rebuilt in each worker process from the stored
signatures and kept in step incrementally (``_synced_index``), and placement of a report in the
index happens under a row lock so that concurrent workers form the same families one would.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from clearinghouse.accounts.models import User
from clearinghouse.audit.services import audit_record
from clearinghouse.core.errors import InvalidInput, NotFound
from clearinghouse.intake.models import Report
from clearinghouse.triage.engine import SimilarityIndex, TriageInput
from clearinghouse.triage.engine.engine import (
    DUPLICATE_THRESHOLD,
    FAMILY_THRESHOLD,
    SIMILAR_LIMIT,
    SIMILAR_THRESHOLD,
    Prepared,
    prepare,
)
from clearinghouse.triage.engine.priority import prioritise, priority_value
from clearinghouse.triage.engine.taxonomy import THREAT_TYPES, mapping_for
from clearinghouse.triage.engine.types import Priority, Target, Turn
from clearinghouse.triage.models import Family, TriageCorrection, TriageRecord, TriageSequence

logger = logging.getLogger(__name__)

ENGINE_VERSION = "1.0"


def family_name_for(ref: str) -> str:
    """A family's public name, from its first member (the same rule the pure engine uses)."""
    return f"fam-{hashlib.blake2b(ref.encode('utf-8'), digest_size=6).hexdigest()}"


def triage_input_for(report: Report) -> TriageInput:
    poc = report.poc or {}
    claims = report.claims or {}
    return TriageInput(
        ref=str(report.pk),
        title=report.title,
        description=report.description,
        targets=tuple(
            Target(target.vendor_name, target.model_name, target.version)
            for target in report.targets.all()
        ),
        system=poc.get("system") or "",
        turns=tuple(Turn(turn["role"], turn["content"]) for turn in poc.get("turns", [])),
        objective=poc.get("objective") or "",
        context_documents=tuple(poc.get("context_documents") or ()),
        observed_output=report.observed_output,
        claimed_success_rate=claims.get("success_rate"),
        claimed_attempts=claims.get("attempts"),
        # Only the reporter's claim is weak evidence; our own earlier label must not feed back.
        reporter_threat_type=report.threat_type
        if report.threat_type_source == Report.ThreatTypeSource.REPORTER
        else "",
    )


# ---- the index, per process -------------------------------------------------------------------


@dataclass
class _IndexState:
    index: SimilarityIndex
    last_sequence: int


_INDEXES: dict[str, _IndexState] = {}


def _index_key() -> str:
    settings = connection.settings_dict
    return f"{connection.vendor}:{settings.get('HOST')}:{settings.get('NAME')}"


def _synced_index() -> SimilarityIndex:
    """This process's index, caught up with every record placed since it last looked."""
    key = _index_key()
    state = _INDEXES.get(key)
    if state is None:
        state = _INDEXES[key] = _IndexState(SimilarityIndex(), 0)
    newer = (
        TriageRecord.objects.filter(sequence__gt=state.last_sequence)
        .order_by("sequence")
        .values_list(
            "report_id", "signature", "target_keys", "exact_key", "payload_key", "sequence"
        )
    )
    for report_id, signature, target_keys, exact_key, payload_key, sequence in newer.iterator():
        state.index.add(
            ref=str(report_id),
            signature=np.frombuffer(bytes(signature), dtype=np.uint32),
            targets=frozenset(tuple(pair) for pair in target_keys),
            exact_key=bytes.fromhex(exact_key),
            payload_key=payload_key & 0xFFFFFFFFFFFFFFFF,
        )
        state.last_sequence = sequence
    return state.index


def forget_indexes() -> None:
    """Drop the in-process indexes (tests that reset the database call this)."""
    _INDEXES.clear()


# ---- running the engine on a stored report ----------------------------------------------------


def _overlap(stored: list[list[str]], targets: frozenset[tuple[str, str]]) -> bool:
    """The engine's rule: targets overlap, or either side names none."""
    mine = {tuple(pair) for pair in stored}
    return not mine or not targets or not targets.isdisjoint(mine)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _next_sequence() -> int:
    lock, _ = TriageSequence.objects.select_for_update().get_or_create(pk=1)
    lock.value += 1
    lock.save(update_fields=["value"])
    return lock.value


def report_triage_run(*, report_id: uuid.UUID | str) -> TriageRecord:
    """Classify, de-duplicate and prioritise one report; store the result. Idempotent.

    The engine's work runs before the transaction; the placement runs under the sequence lock.
    Analysts' decisions in an existing record (family, threat type) are kept.
    Raises NotFound if the report does not exist.
    """
    report = Report.objects.prefetch_related("targets").filter(pk=report_id).first()
    if report is None:
        raise NotFound("no such report")
    prepared = prepare(triage_input_for(report))
    with transaction.atomic():
        sequence = _next_sequence()
        index = _synced_index()
        record = _place(report, prepared, index, sequence)
        index.add(
            ref=str(report.pk),
            signature=prepared.analysis.signature,
            targets=prepared.analysis.target_keys,
            exact_key=prepared.analysis.exact_key,
            payload_key=prepared.analysis.payload_key,
        )
        _INDEXES[_index_key()].last_sequence = sequence
    return record


def _place(
    report: Report, prepared: Prepared, index: SimilarityIndex, sequence: int
) -> TriageRecord:
    analysis = prepared.analysis
    ref = str(report.pk)
    candidates = [
        candidate
        for candidate in index.query(analysis.signature, minimum=SIMILAR_THRESHOLD)
        if index.ref(candidate.index) != ref
    ]
    # The index may hold a report twice (retriage); keep each report's best score.
    best: dict[str, tuple[float, int]] = {}
    for candidate in candidates:
        other = index.ref(candidate.index)
        if other not in best or candidate.score > best[other][0]:
            best[other] = (candidate.score, candidate.index)
    records = {
        str(row.report_id): row
        for row in TriageRecord.objects.filter(report_id__in=list(best)).select_related("family")
    }
    ordered = sorted(best.items(), key=lambda item: -item[1][0])
    members = [
        records[other]
        for other, (score, position) in ordered
        if other in records
        and score >= FAMILY_THRESHOLD
        and index.overlapping(position, analysis.target_keys)
    ]
    existing = TriageRecord.objects.filter(report=report).select_related("family").first()
    duplicate = next(
        (
            record
            for record in TriageRecord.objects.filter(exact_key=analysis.exact_key.hex())
            .exclude(report=report)
            .order_by("sequence")[:50]
            if _overlap(record.target_keys, analysis.target_keys)
        ),
        None,
    )
    if duplicate is None:
        duplicate = next(
            (
                records[other]
                for other, (score, position) in ordered
                if other in records
                and score >= DUPLICATE_THRESHOLD
                and records[other].payload_key == _signed(analysis.payload_key)
            ),
            None,
        )
    if duplicate is not None and duplicate not in members:
        members.append(duplicate)

    if existing is not None and existing.family_locked:
        family = existing.family
    elif members:
        families = sorted({member.family for member in members}, key=lambda f: f.pk)
        family = families[0]
        for other_family in families[1:]:
            # Bridged families become one, unless an analyst has placed reports there.
            if not other_family.records.filter(family_locked=True).exists():
                TriageRecord.objects.filter(family=other_family).update(family=family)
                other_family.delete()
    else:
        family, _ = Family.objects.get_or_create(name=family_name_for(ref))

    labels = prepared.labels
    threat = labels.threat_type
    keep_analyst_label = (
        existing is not None and existing.threat_type_source == TriageRecord.Source.ANALYST
    )
    threat_type = existing.threat_type if keep_analyst_label and existing else threat.value
    mapping = mapping_for(threat_type)
    values = {
        "threat_type": threat_type,
        "threat_type_confidence": 1.0 if keep_analyst_label else threat.confidence,
        "threat_type_evidence": list(existing.threat_type_evidence)
        if keep_analyst_label and existing
        else list(threat.evidence),
        "threat_type_source": TriageRecord.Source.ANALYST
        if keep_analyst_label
        else TriageRecord.Source.ENGINE,
        "owasp": list(mapping.owasp),
        "atlas": list(mapping.atlas),
        "avid": list(mapping.avid),
        "cwe": list(mapping.cwe),
        "techniques": [
            {"value": t.value, "confidence": t.confidence, "evidence": list(t.evidence)}
            for t in labels.techniques
        ],
        "harm_category": labels.harm_category.value,
        "harm_evidence": list(labels.harm_category.evidence),
        "family": family,
        "duplicate_of_id": duplicate.report_id if duplicate is not None else None,
        "similar": [
            {"report_id": other, "score": round(score, 3)}
            for other, (score, _) in ordered[:SIMILAR_LIMIT]
        ],
        "ssvc": prepared.priority.ssvc,
        "jef": prepared.priority.jef,
        "priority_inputs": dict(prepared.priority.inputs),
        "wrapper": analysis.wrapper[:20_000],
        "payload": analysis.payload[:5_000],
        "decoded_layers": list(analysis.texts.decoded_layers),
        "signature": analysis.signature.tobytes(),
        "exact_key": analysis.exact_key.hex(),
        "payload_key": _signed(analysis.payload_key),
        "target_keys": sorted([list(pair) for pair in analysis.target_keys]),
        "engine_version": ENGINE_VERSION,
        "sequence": sequence,
    }
    priority = prepared.priority
    if existing is not None and existing.priority_inputs.get("measured"):
        # Replay measured this report: a re-triage must not put the reporter's claims back.
        priority = _measured_priority(
            threat_type, labels.harm_category.value, existing.priority_inputs
        )
    values["ssvc"], values["jef"] = priority.ssvc, priority.jef
    values["priority_inputs"] = dict(priority.inputs)
    record, _ = TriageRecord.objects.update_or_create(report=report, defaults=values)
    family.save(update_fields=["updated_at"])

    report_fields = ["status", "priority", "updated_at"]
    report.status = Report.Status.TRIAGED
    report.priority = priority_value(priority)
    if report.threat_type_source != Report.ThreatTypeSource.ANALYST:
        report.threat_type = threat_type
        report.threat_type_source = Report.ThreatTypeSource.TRIAGE
        report_fields += ["threat_type", "threat_type_source"]
    report.save(update_fields=report_fields)
    audit_record(
        actor=None,
        action="report.triage",
        object_type="report",
        object_id=str(report.pk),
        data={"threat_type": threat_type, "family": family.name, "ssvc": prepared.priority.ssvc},
    )
    return record


# ---- status changes used by the task -----------------------------------------------------------


def report_queue_for_triage(*, report_id: uuid.UUID | str) -> str:
    """Move a received report to ``queued_for_triage``. Idempotent: a repeated run changes nothing.

    Returns the report's status afterwards. Raises NotFound if the report was deleted meanwhile.
    """
    with transaction.atomic():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            raise NotFound("no such report")
        if report.status in {Report.Status.RECEIVED, Report.Status.TRIAGE_FAILED}:
            report.status = Report.Status.QUEUED_FOR_TRIAGE
            report.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=None,
                action="report.queue_for_triage",
                object_type="report",
                object_id=str(report.pk),
            )
        return report.status


def report_mark_triage_failed(*, report_id: uuid.UUID | str, reason: str) -> None:
    """Record that triage gave up, so the report shows up for a person instead of vanishing."""
    with transaction.atomic():
        updated = (
            Report.objects.filter(pk=report_id)
            .exclude(status=Report.Status.TRIAGED)
            .update(status=Report.Status.TRIAGE_FAILED)
        )
        if updated:
            audit_record(
                actor=None,
                action="report.triage_failed",
                object_type="report",
                object_id=str(report_id),
                data={"reason": reason[:500]},
            )


# ---- analysts' corrections -------------------------------------------------------------------


def family_merge(*, actor: User, target: Family, others: list[Family]) -> Family:
    """Move every report of ``others`` into ``target`` and lock them there."""
    others = [family for family in others if family.pk != target.pk]
    if not others:
        raise InvalidInput("choose at least one other family to merge", field="families")
    with transaction.atomic():
        moved = list(
            TriageRecord.objects.filter(family__in=others).values_list("report_id", flat=True)
        )
        TriageRecord.objects.filter(family__in=others).update(family=target, family_locked=True)
        TriageRecord.objects.filter(family=target).update(family_locked=True)
        names = [family.name for family in others]
        Family.objects.filter(pk__in=[family.pk for family in others]).delete()
        target.save(update_fields=["updated_at"])
        TriageCorrection.objects.create(
            kind=TriageCorrection.Kind.MERGE,
            actor=actor,
            data={"into": target.name, "merged": names, "reports": [str(r) for r in moved]},
        )
        audit_record(
            actor=actor,
            action="family.merge",
            object_type="family",
            object_id=target.name,
            data={"merged": names},
        )
    return target


def family_split(*, actor: User, family: Family, report_ids: list[str]) -> Family:
    """Move the chosen reports of ``family`` into a new family; both sides are locked.

    Runs under the placement lock so the engine cannot add to the family halfway through.
    Raises InvalidInput for ids that are not reports of this family or a split that empties it.
    """
    try:
        wanted = [uuid.UUID(str(report_id)) for report_id in report_ids]
    except ValueError:
        raise InvalidInput("report ids must be UUIDs", field="reports") from None
    with transaction.atomic():
        TriageSequence.objects.select_for_update().get_or_create(pk=1)
        records = list(
            TriageRecord.objects.select_for_update()
            .filter(family=family, report_id__in=wanted)
            .order_by("sequence")
        )
        if not records:
            raise InvalidInput("choose at least one report of this family", field="reports")
        if len(records) == family.records.count():
            raise InvalidInput("a split must leave at least one report behind", field="reports")
        new_family = Family.objects.create(
            name=family_name_for(f"split:{records[0].report_id}:{uuid.uuid4()}")
        )
        TriageRecord.objects.filter(pk__in=[r.pk for r in records]).update(
            family=new_family, family_locked=True
        )
        TriageRecord.objects.filter(family=family).update(family_locked=True)
        TriageCorrection.objects.create(
            kind=TriageCorrection.Kind.SPLIT,
            actor=actor,
            data={
                "from": family.name,
                "into": new_family.name,
                "reports": [str(r.report_id) for r in records],
            },
        )
        audit_record(
            actor=actor,
            action="family.split",
            object_type="family",
            object_id=family.name,
            data={"into": new_family.name},
        )
    return new_family


def record_relabel(*, actor: User, record: TriageRecord, threat_type: str) -> TriageRecord:
    """Set the threat type by hand; the engine keeps it from now on."""
    if threat_type not in THREAT_TYPES:
        raise InvalidInput(f"unknown threat type {threat_type!r}", field="threat_type")
    mapping = mapping_for(threat_type)
    with transaction.atomic():
        before = record.threat_type
        record.threat_type = threat_type
        record.threat_type_source = TriageRecord.Source.ANALYST
        record.threat_type_confidence = 1.0
        record.threat_type_evidence = [f"analyst {actor.username}"]
        record.owasp, record.atlas, record.avid, record.cwe = (
            list(mapping.owasp),
            list(mapping.atlas),
            list(mapping.avid),
            list(mapping.cwe),
        )
        # Only the label's fields: the engine may be re-placing this report at the same moment.
        record.save(
            update_fields=[
                "threat_type",
                "threat_type_source",
                "threat_type_confidence",
                "threat_type_evidence",
                "owasp",
                "atlas",
                "avid",
                "cwe",
            ]
        )
        Report.objects.filter(pk=record.report_id).update(
            threat_type=threat_type, threat_type_source=Report.ThreatTypeSource.ANALYST
        )
        TriageCorrection.objects.create(
            kind=TriageCorrection.Kind.RELABEL,
            actor=actor,
            data={"report": str(record.report_id), "before": before, "after": threat_type},
        )
        audit_record(
            actor=actor,
            action="report.relabel",
            object_type="report",
            object_id=str(record.report_id),
            data={"before": before, "after": threat_type},
        )
    return record


# ---- measured priority (replay) -----------------------------------------------------------------


def _measured_priority(threat_type: str, harm_category: str, inputs: dict[str, object]) -> Priority:
    def number(name: str) -> float:
        value = inputs.get(name)
        return float(value) if isinstance(value, int | float) else 0.0

    priority = prioritise(
        threat_type=threat_type,
        harm_category=harm_category,
        vendors=int(number("vendors")),
        models=int(number("models")),
        user_turns=int(number("user_turns")) or 1,
        has_poc=True,
        claimed_success_rate=None,
        output_looks_compliant=False,
        subjects=int(number("subjects")),
        fidelity=number("fidelity"),
    )
    extra = {"measured": True, "user_turns": inputs.get("user_turns", 1)}
    return Priority(priority.ssvc, priority.jef, {**priority.inputs, **extra})


def record_apply_measurement(
    *, report_id: uuid.UUID | str, vendors: int, models: int, subjects: int, fidelity: float
) -> TriageRecord | None:
    """Re-prioritise a triaged report from what replay measured (JEF's inputs, measured).

    Returns None when the report has no triage record yet; triage will read the measurement
    when it runs (the inputs are kept on the record, marked measured).
    """
    with transaction.atomic():
        record = (
            TriageRecord.objects.select_for_update()
            .select_related("report")
            .filter(report_id=report_id)
            .first()
        )
        if record is None:
            return None
        report = record.report
        user_turns = sum(
            1 for turn in (report.poc or {}).get("turns", []) if turn.get("role") == "user"
        )
        priority = _measured_priority(
            record.threat_type,
            record.harm_category,
            {
                "vendors": vendors,
                "models": models,
                "subjects": subjects,
                "fidelity": fidelity,
                "user_turns": user_turns,
            },
        )
        record.ssvc, record.jef = priority.ssvc, priority.jef
        record.priority_inputs = dict(priority.inputs)
        record.save(update_fields=["ssvc", "jef", "priority_inputs", "triaged_at"])
        report.priority = priority_value(priority)
        report.save(update_fields=["priority", "updated_at"])
    return record
