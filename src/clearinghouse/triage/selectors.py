"""Reading triage results: the queue with its families, families and their members, one report's
triage record, and the corrections analysts made.

Reports are always reached through ``intake.selectors.report_visible_to`` (directly or through
``report_list``), so a family page or a list of similar reports never shows a report its reader
could not open; a family itself is no secret to someone allowed to see families.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery

from clearinghouse.accounts.models import User
from clearinghouse.core.diff import WordDiff, word_diff
from clearinghouse.core.errors import NotFound
from clearinghouse.intake.models import Report
from clearinghouse.intake.selectors import ReportFilters, report_get, report_list, report_visible_to
from clearinghouse.triage.engine.sketch import BINS
from clearinghouse.triage.models import Family, TriageCorrection, TriageRecord

# Highest first: the order the queue's filter offers them in.
SSVC_DECISIONS = ("act", "attend", "track*", "track")

# Columns of a record no list needs: the wrapper and payload text (up to 25,000 characters) and
# the MinHash signature. Lists defer them; only the family page reads them, one page at a time.
_HEAVY_FIELDS = ("wrapper", "payload", "signature", "priority_inputs", "decoded_layers")


# ---- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilters:
    report: ReportFilters = field(default_factory=ReportFilters)
    family: str | None = None  # family name, exact
    ssvc: str | None = None  # one of SSVC_DECISIONS


def _family_size(family: Any) -> Subquery:
    """Members of ``family`` (an ``OuterRef``), as a correlated subquery: one query for a page."""
    return Subquery(
        TriageRecord.objects.filter(family=family)
        .order_by()
        .values("family")
        .annotate(size=Count("pk"))
        .values("size"),
        output_field=IntegerField(),
    )


def queue_report_list(*, user: User, filters: QueueFilters) -> QuerySet[Report]:
    """Reports for the queue with their triage record, family and ``family_size`` in one query.

    Targets come in one more query per page (a prefetch). Untriaged reports are included; their
    ``triage`` is missing and their ``family_size`` is None.
    """
    reports = report_list(user=user, filters=filters.report)
    if filters.family:
        reports = reports.filter(triage__family__name=filters.family)
    if filters.ssvc:
        reports = reports.filter(triage__ssvc=filters.ssvc)
    return (
        reports.select_related("triage__family")
        .defer(*(f"triage__{field}" for field in _HEAVY_FIELDS))
        .annotate(family_size=_family_size(OuterRef("triage__family")))
        .prefetch_related("targets")
    )


# ---- families ---------------------------------------------------------------------------------


def family_list(*, search: str | None = None) -> QuerySet[Family]:
    """Families with at least one member, largest first, each with its ``size``."""
    families = Family.objects.annotate(size=Count("records")).filter(size__gt=0)
    if search:
        families = families.filter(Q(name__icontains=search) | Q(label__icontains=search))
    return families.order_by("-size", "-updated_at", "pk")


def family_get(*, name: str) -> Family:
    """The family called ``name``, with its ``size``. Raises NotFound."""
    family = Family.objects.annotate(size=Count("records")).filter(name=name).first()
    if family is None:
        raise NotFound(f"no family named {name!r}", field="family")
    return family


def family_size(*, family: Family) -> int:
    return TriageRecord.objects.filter(family=family).count()


def family_member_list(*, user: User, family: Family) -> QuerySet[TriageRecord]:
    """Members of ``family`` that ``user`` may read, earliest received first."""
    return (
        TriageRecord.objects.filter(family=family, report__in=report_visible_to(user=user))
        .select_related("report")
        .prefetch_related("report__targets")
        .order_by("report__created_at", "report_id")
    )


@dataclass(frozen=True, slots=True)
class FamilyMember:
    record: TriageRecord
    similarity: float  # estimated Jaccard of wrapper shingles with the first member
    diff: WordDiff | None  # None for the first member itself


@dataclass(frozen=True, slots=True)
class FamilyMembersPage:
    """One page of a family's members, each compared with the family's first member."""

    first: TriageRecord | None
    page: Page[TriageRecord]
    members: list[FamilyMember]


def signature_similarity(first: bytes | memoryview, other: bytes | memoryview) -> float:
    """Share of MinHash bins two stored signatures agree in (what the index scores with)."""
    left = np.frombuffer(bytes(first), dtype=np.uint32)
    right = np.frombuffer(bytes(other), dtype=np.uint32)
    if left.size != BINS or right.size != BINS:
        return 0.0
    return float(np.count_nonzero(left == right)) / BINS


def family_member_page(
    *, user: User, family: Family, page_number: str | int | None, per_page: int = 20
) -> FamilyMembersPage:
    """A page of members with their similarity to, and word diff against, the first member.

    The first member (earliest received) is the reference on every page. Diffs are computed for
    the page's members only, each capped by ``core.diff.MAX_TOKENS``.
    """
    members = family_member_list(user=user, family=family)
    first = members.prefetch_related(None).first()
    page: Page[TriageRecord] = Paginator(members, per_page).get_page(page_number)
    compared: list[FamilyMember] = []
    for record in page.object_list:
        if first is None or record.pk == first.pk:
            compared.append(FamilyMember(record, 1.0, None))
            continue
        compared.append(
            FamilyMember(
                record,
                signature_similarity(first.signature, record.signature),
                word_diff(first.wrapper, record.wrapper),
            )
        )
    return FamilyMembersPage(first=first, page=page, members=compared)


def family_correction_list(*, family: Family) -> QuerySet[TriageCorrection]:
    """Merges into and splits from or into ``family``, and relabels of its current members."""
    member_ids = [
        str(report_id)
        for report_id in TriageRecord.objects.filter(family=family).values_list(
            "report_id", flat=True
        )
    ]
    return TriageCorrection.objects.filter(
        Q(data__into=family.name)
        | Q(data__from=family.name)
        | Q(kind=TriageCorrection.Kind.RELABEL, data__report__in=member_ids)
    ).select_related("actor")


# ---- one report -------------------------------------------------------------------------------


def triage_record_get(*, user: User, report_id: uuid.UUID | str) -> TriageRecord:
    """The triage record of a report ``user`` may read, with its report and family.

    Raises NotFound when the report is missing, not visible to ``user`` or not triaged yet.
    """
    report = report_get(user=user, report_id=report_id)
    record = TriageRecord.objects.select_related("family").filter(report=report).first()
    if record is None:
        raise NotFound("this report has not been triaged yet")
    record.report = report
    return record
