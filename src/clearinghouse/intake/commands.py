"""``clearinghouse import``: a scanner's output in, one report per distinct finding out.

A thin edge over the importers (``intake/importers``, pure) and ``report_submit``: each finding is
submitted under the idempotency key ``<format>:<run id>:<finding key>``, so importing a file again
creates nothing new, and the scanner run is recorded as a ``ScanRun`` its reports link to. A
progress bar and one line per unusable record go to stderr; a JSON summary goes to stdout.

Importing this module imports neither Django nor the models: the CLI loads it before Django is set
up.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from clearinghouse.intake.importers import (
    IMPORTERS,
    Finding,
    ReadProgress,
    RunInfo,
    SkippedRecord,
    UnreadableFile,
)

if TYPE_CHECKING:
    from clearinghouse.accounts.models import User
    from clearinghouse.intake.models import ScanRun

err = Console(stderr=True)

MAX_PRINTED_PROBLEMS = 100  # one line per unusable record, up to this many; the summary counts all
FIRST_LINES_SHOWN = 5

CREATED, PRESENT = "created", "present"


@dataclass
class RunCounts:
    run: RunInfo
    findings: int = 0
    created: int = 0
    present: int = 0


@dataclass
class Tally:
    """What one import did, for the summary and the ScanRun rows."""

    unit: str
    records: int = 0
    findings: int = 0
    created: int = 0
    present: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    first_lines: dict[str, list[int]] = field(default_factory=dict)
    printed: int = 0

    @property
    def problem_count(self) -> int:
        return sum(self.problems.values())

    def problem(self, line: int, reason: str, detail: str) -> None:
        self.problems[reason] += 1
        lines = self.first_lines.setdefault(reason, [])
        if len(lines) < FIRST_LINES_SHOWN:
            lines.append(line)
        self.printed += 1
        if self.printed <= MAX_PRINTED_PROBLEMS:
            text = f"{reason}: {detail}" if detail else reason
            err.print(f"[yellow]{self.unit} {line}:[/yellow] {_inert(text)}")
        elif self.printed == MAX_PRINTED_PROBLEMS + 1:
            err.print("[yellow]… more unusable records; the summary below counts them all[/yellow]")


class Sink(Protocol):
    """Where findings go: the database, or nowhere (``--dry-run``)."""

    def run_seen(self, run: RunInfo) -> None: ...

    def submit(self, finding: Finding) -> tuple[str, str]:
        """(CREATED or PRESENT, "") or ("", why it was refused)."""
        ...

    def finish(self, tally: Tally) -> None: ...


class DryRun:
    """Counts what would be submitted; touches no database."""

    def run_seen(self, run: RunInfo) -> None:
        return None

    def submit(self, finding: Finding) -> tuple[str, str]:
        return CREATED, ""

    def finish(self, tally: Tally) -> None:
        return None


class Database:
    """Submits findings as ``account`` with ``report_submit`` and records their scanner runs."""

    def __init__(self, account: User, format_name: str, file_name: str) -> None:
        self.account = account
        self.format_name = format_name
        self.file_name = file_name
        self.runs: dict[str, ScanRun] = {}
        self.counts: dict[str, RunCounts] = {}

    def run_seen(self, run: RunInfo) -> None:
        from clearinghouse.intake.services import scan_run_open

        if run.run_id not in self.runs:
            self.runs[run.run_id] = scan_run_open(
                scanner=self.format_name, run=run, file_name=self.file_name, user=self.account
            )
            self.counts[run.run_id] = RunCounts(run)

    def submit(self, finding: Finding) -> tuple[str, str]:
        from clearinghouse.core.errors import ClearinghouseError, Conflict
        from clearinghouse.intake.models import Report
        from clearinghouse.intake.services import report_submit

        self.run_seen(finding.run)
        counts = self.counts[finding.run.run_id]
        counts.findings += 1
        scan_run = self.runs[finding.run.run_id]
        try:
            result = report_submit(
                submission=finding.submission,
                submitter=self.account,
                idempotency_key=finding.idempotency_key,
                scan_run=scan_run,
            )
        except Conflict:
            # The key was used with another body: another record of the same finding (a second
            # hit-log line of one attempt), or an import by an earlier version of the importer.
            counts.present += 1
            return PRESENT, ""
        except ClearinghouseError as error:
            return "", f"{error.field + ': ' if error.field else ''}{error.message}"
        if not result.created and result.report.scan_run_id is None:
            # Submitted before through another path (the API): link it to the run that found it.
            Report.objects.filter(pk=result.report.pk, scan_run__isnull=True).update(
                scan_run=scan_run
            )
        if result.created:
            counts.created += 1
            return CREATED, ""
        counts.present += 1
        return PRESENT, ""

    def finish(self, tally: Tally) -> None:
        from clearinghouse.intake.services import scan_run_close

        for run_id, scan_run in self.runs.items():
            counts = self.counts[run_id]
            scan_run_close(
                scan_run=scan_run,
                records_read=tally.records,
                records_skipped=tally.problem_count,
                findings=counts.findings,
                created=counts.created,
                present=counts.present,
            )


# ---- the command --------------------------------------------------------------------------------


def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="The scanner's output: a garak report/hit log, a PyRIT memory database, a promptfoo results JSON.",
            show_default=False,
        ),
    ],
    format_name: Annotated[
        str,
        typer.Option(
            "--format", help=f"Scanner format: {', '.join(IMPORTERS)}.", show_default=False
        ),
    ],
    user: Annotated[
        str | None, typer.Option(help="Submit the reports as this user (needed unless --dry-run).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and validate the file only; store nothing.")
    ] = False,
) -> None:
    """Import a scanner's findings as reports, one per distinct finding; importing again adds none.

    Exit status 0 when the file was read (some records may be skipped); 1 when none could be.
    """
    importer_class = IMPORTERS.get(format_name)
    if importer_class is None:
        raise typer.BadParameter(
            f"unknown format {format_name!r}; choose one of {', '.join(IMPORTERS)}",
            param_hint="--format",
        )
    if user is None and not dry_run:
        raise typer.BadParameter("give the user to submit as, or --dry-run", param_hint="--user")
    importer = importer_class()
    sink: Sink = DryRun() if dry_run else Database(_account(user or ""), format_name, file.name)
    tally = Tally(unit=importer.source.record_unit)
    fatal: str | None = None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _amount_column(importer.source.progress_unit),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        bar = progress.add_task(f"reading {_inert(file.name)}", total=None)

        def on_progress(update: ReadProgress) -> None:
            progress.update(bar, completed=update.done, total=update.total)
            tally.records = update.records
            if update.run is not None:
                sink.run_seen(update.run)

        try:
            for record in importer.read(file, on_progress=on_progress):
                if isinstance(record, SkippedRecord):
                    tally.problem(record.line, record.reason, record.detail)
                    continue
                tally.findings += 1
                outcome, refusal = sink.submit(record)
                if outcome == CREATED:
                    tally.created += 1
                elif outcome == PRESENT:
                    tally.present += 1
                else:
                    tally.problem(record.line, "refused on submission", refusal)
        except UnreadableFile as error:
            fatal = str(error)
    sink.finish(tally)
    _print_summary(file, format_name, tally, dry_run, fatal)
    typer.echo(json.dumps(_summary(file, format_name, tally, dry_run, fatal), ensure_ascii=False))
    if fatal is not None or (tally.records > 0 and tally.problem_count >= tally.records):
        raise typer.Exit(1)


def _account(username: str) -> User:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    import django

    django.setup()
    from clearinghouse.accounts.models import User
    from clearinghouse.accounts.permissions import Permission

    account = User.objects.filter(username=username, is_active=True).first()
    if account is None:
        raise typer.BadParameter(f"no active user {username!r}", param_hint="--user")
    if not account.has_permission(Permission.REPORTS_SUBMIT):
        raise typer.BadParameter(f"{username!r} may not submit reports", param_hint="--user")
    return account


def _amount_column(unit: str) -> ProgressColumn:
    return DownloadColumn(binary_units=True) if unit == "bytes" else MofNCompleteColumn()


def _inert(text: str, limit: int = 300) -> str:
    """Scanner text made safe for a terminal: control characters (ANSI escapes, bidi overrides)
    shown as escapes, rich markup escaped, length capped."""
    shown = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return escape(shown)


def _summary(
    file: Path, format_name: str, tally: Tally, dry_run: bool, fatal: str | None
) -> dict[str, object]:
    return {
        "file": file.name,
        "format": format_name,
        "dry_run": dry_run,
        "error": fatal,
        "records": tally.records,
        "findings": tally.findings,
        "imported": 0 if dry_run else tally.created,
        "already_present": tally.present,
        "skipped": tally.problem_count,
        "skipped_by_reason": {
            reason: {"count": count, "first": tally.first_lines[reason]}
            for reason, count in tally.problems.most_common()
        },
    }


def _print_summary(
    file: Path, format_name: str, tally: Tally, dry_run: bool, fatal: str | None
) -> None:
    if fatal is not None:
        err.print(f"[red]error:[/red] {_inert(fatal, 1_000)}")
    heading = f"{format_name} {_inert(file.name)}: {tally.records} {tally.unit}(s) read, {tally.findings} finding(s)"
    err.print(heading)
    if dry_run:
        err.print(f"  dry run: {tally.findings} finding(s) would be submitted; nothing was stored")
    else:
        err.print(f"  imported: {tally.created} new report(s)")
        err.print(f"  already present: {tally.present}")
    err.print(f"  skipped: {tally.problem_count}")
    for reason, count in tally.problems.most_common():
        first = tally.first_lines[reason]
        lines = ", ".join(str(line) for line in first) + (", …" if count > len(first) else "")
        unit = tally.unit if count == 1 else f"{tally.unit}s"
        err.print(f"    {_inert(reason)}: {count} ({unit} {lines})")
    if tally.records == 0 and fatal is None:
        err.print("  nothing to import: the file holds no records")
