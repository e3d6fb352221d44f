"""The importer contract: what a plugin declares, the one hook it implements, what it yields.

Pure module (no Django): the CLI, the benchmarks and the tests run importers in bulk.

An importer turns one file a scanner wrote into report submissions, one per distinct finding::

    Importer.read(path)              template method, final: opens the file through the importer's
    │                                Source, turns every failure into a SkippedRecord, validates
    │                                every Draft with the one report schema (intake/schema.py)
    └── Importer._parse(record)      the one hook: a decoded record in, a Draft or None out

Exceptions (one line per class):

    ImporterError       base; never raised itself
    ├── UnreadableFile  the file as a whole cannot be read as this format (missing, empty, too large,
    │                   not SQLite, another schema version); raised by ``read``
    └── RecordError     one record is unusable; raised by ``_parse``, yielded as a SkippedRecord
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, final

from clearinghouse.intake.schema import (
    MAX_DESCRIPTION_CHARS,
    ReportSubmission,
    SubmissionError,
    parse_submission,
)

# The idempotency key is "<format>:<run id>:<finding key>"; intake.services refuses keys longer
# than this (MAX_IDEMPOTENCY_KEY_LENGTH there; a test keeps the two equal).
MAX_IDEMPOTENCY_KEY_CHARS = 200
_MAX_RUN_ID_CHARS = 80
_MAX_FINDING_KEY_CHARS = 96


class ImporterError(Exception):
    """Base of the importer exceptions; never raised itself."""


class UnreadableFile(ImporterError):
    """The file as a whole cannot be read as this format. The message says why, for a person."""


class RecordError(ImporterError):
    """One record cannot be used. ``reason`` is short and shared by like records (the summary
    groups by it); ``detail`` is specific to this record."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The scanner run a finding came from (garak's run id, promptfoo's eval id, ...)."""

    run_id: str
    scanner_version: str = ""


@dataclass(slots=True)
class RunState:
    """What an importer learns while it reads one file: set by ``_parse`` from header records.

    A plugin that needs more (targets, tags) subclasses this dataclass and names it in
    ``state_class``; ``read`` makes a fresh one per file.
    """

    run_id: str = ""
    scanner_version: str = ""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One decoded record: a JSON value, or a dict a Source assembled (a PyRIT conversation).

    ``number`` is what a person looks for: the line of a JSON Lines file, the position of a result
    in a JSON document, the ordinal of a conversation. ``header`` marks the document-level record
    (number 0) a JSON document source yields before its results.
    """

    number: int
    value: object
    header: bool = False


@dataclass(frozen=True, slots=True)
class Draft:
    """What ``_parse`` returns for a finding: a report as plain data, and how to recognise it again.

    ``report`` is validated by ``read`` with ``parse_submission``, so the one schema decides.
    ``finding_key`` is stable across re-imports of the same file (an attempt's uuid, a result id)
    and identical for two records of the same finding. ``labels`` are taxonomy ids (e.g. OWASP
    ``LLM01:2025``) that have no field in the schema yet; they are also written in the description.
    """

    report: dict[str, object]
    finding_key: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """A valid report submission and where it came from."""

    line: int
    submission: ReportSubmission
    finding_key: str
    idempotency_key: str
    run: RunInfo
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record that gave no report, and why. ``reason`` groups; ``detail`` is this record's."""

    line: int
    reason: str
    detail: str = ""


ImportRecord = Finding | SkippedRecord


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """How far ``read`` has come: ``done`` of ``total`` (None if unknown) in ``unit``; the run being
    read; ``records`` read so far (header records not counted)."""

    done: int
    total: int | None
    unit: str
    run: RunInfo | None
    records: int


ProgressCallback = Callable[[int, int | None], None]


class Source(ABC):
    """How an importer's file is opened and cut into records: JSON Lines, one JSON document, SQLite.

    ``records`` yields a RawRecord per record, or a SkippedRecord for a record that could not even
    be decoded; it raises UnreadableFile when the file as a whole cannot be read. It calls
    ``progress(done, total)`` in ``progress_unit`` now and then.
    """

    record_unit: ClassVar[str] = "record"
    progress_unit: ClassVar[str] = "records"

    @abstractmethod
    def records(
        self, path: Path, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]: ...


class Importer(ABC):
    """Base of the importer plugins: declare the metadata, pick a Source, implement ``_parse``.

    Class attributes (checked when a subclass is defined, and by the contract test):
    ``format_name`` (the ``--format`` value and registry key), ``scanner`` (the tool's name),
    ``file_kinds`` (the files it reads, as globs), ``source`` (a Source instance), ``state_class``.
    ``description`` is the first line of the subclass's docstring.
    """

    format_name: ClassVar[str]
    description: ClassVar[str]
    scanner: ClassVar[str]
    file_kinds: ClassVar[tuple[str, ...]]
    source: ClassVar[Source]
    state_class: ClassVar[type[RunState]] = RunState

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        doc = (cls.__doc__ or "").strip()
        cls.description = doc.splitlines()[0].strip() if doc else ""
        if getattr(cls, "__abstractmethods__", None):
            return
        for name in ("format_name", "scanner", "file_kinds", "source"):
            if not hasattr(cls, name):
                raise TypeError(f"importer {cls.__name__} must declare {name}")
        if not cls.description:
            raise TypeError(f"importer {cls.__name__} needs a docstring: its first line is shown")
        if not (cls.format_name.isascii() and cls.format_name.isidentifier()):
            raise TypeError(f"importer {cls.__name__}: format_name must be a plain ASCII word")

    @final
    def read(
        self, path: Path | str, *, on_progress: Callable[[ReadProgress], None] | None = None
    ) -> Iterator[ImportRecord]:
        """Yield a Finding per distinct finding and a SkippedRecord per unusable record.

        Reads in constant memory (what one record needs). Never raises for one bad record; raises
        UnreadableFile when the file as a whole cannot be read, which may happen after some
        records were yielded (a file truncated or corrupted on disk).
        """
        path = Path(path)
        state = self.state_class()
        counted = 0
        announced: RunInfo | None = None
        position: tuple[int, int | None] = (0, None)

        def current_run() -> RunInfo | None:
            return RunInfo(state.run_id, state.scanner_version) if state.run_id else None

        def progress(done: int, total: int | None) -> None:
            nonlocal position
            position = (done, total)
            if on_progress is not None:
                unit = self.source.progress_unit
                on_progress(ReadProgress(done, total, unit, current_run(), counted))

        for item in self.source.records(path, progress):
            if isinstance(item, SkippedRecord) or not item.header:
                counted += 1
            if isinstance(item, SkippedRecord):
                yield item
                continue
            outcome = self._parse_safely(item, state)
            run = current_run()
            if run != announced:
                announced = run
                progress(*position)  # a new run: the caller learns of it before its findings
            if outcome is None:
                continue
            if isinstance(outcome, SkippedRecord):
                yield outcome
            elif run is None:
                yield SkippedRecord(
                    item.number, "no run id", "the run's header was not found before this record"
                )
            else:
                yield self._finding(item.number, outcome, run)
        progress(*position)  # the final count of records

    def _parse_safely(self, record: RawRecord, state: RunState) -> Draft | SkippedRecord | None:
        try:
            return self._parse(record, state)
        except RecordError as error:
            return SkippedRecord(record.number, error.reason, error.detail)
        except RecursionError:
            return SkippedRecord(record.number, "nested too deeply")
        except Exception as error:
            # A plugin bug must not end the import: the record is skipped under a reason that says
            # so, and the contract and property tests assert that no plugin ever gets here.
            return SkippedRecord(
                record.number, "importer error", f"{type(error).__name__}: {error}"
            )

    def _finding(self, number: int, draft: Draft, run: RunInfo) -> Finding | SkippedRecord:
        try:
            submission = parse_submission(draft.report)
        except SubmissionError as error:
            field = error.field or "report"
            return SkippedRecord(number, f"not a valid report ({field})", error.reason)
        key = ":".join(
            (
                self.format_name,
                key_part(run.run_id, _MAX_RUN_ID_CHARS),
                key_part(draft.finding_key, _MAX_FINDING_KEY_CHARS),
            )
        )
        return Finding(
            line=number,
            submission=submission,
            finding_key=draft.finding_key,
            idempotency_key=key,
            run=run,
            labels=draft.labels,
        )

    @abstractmethod
    def _parse(self, record: RawRecord, state: RunState) -> Draft | None:
        """Turn one decoded record into a Draft, or None when it is not a finding.

        Header records (a run's setup, a document's metadata) update ``state`` and return None.
        Raise RecordError for a record that cannot be used; the reason is shown to the person
        importing, grouped in the summary.
        """


def key_part(value: str, limit: int) -> str:
    """``value`` if it is short printable ASCII, else a digest of it: keys must fit the key limit."""
    if value and len(value) <= limit and value.isascii() and value.isprintable():
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def text_or_empty(value: object) -> str:
    """A string value as is; anything else (null, a number, an object) as the empty string."""
    return value if isinstance(value, str) else ""


def score_value(value: object) -> float | None:
    """A JSON number as a float; None for null, booleans, strings and NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if number != number else number


def report_fields(
    *,
    title: str,
    description_lines: list[str],
    vendor: str,
    model: str,
    poc: dict[str, object],
    observed_output: str,
) -> dict[str, object]:
    """The report every importer builds, clipped to the schema's limits.

    Importers add their extras (claims, the threat type their scanner names) to what it returns.
    """
    return {
        "title": clip(title, 300),
        "description": "\n".join(description_lines)[:MAX_DESCRIPTION_CHARS],
        "targets": [{"vendor": clip(vendor, 200), "model": clip(model, 200)}],
        "poc": poc,
        "observed_output": observed_output,
    }
