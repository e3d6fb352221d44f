"""``clearinghouse triage``: bulk and offline triage of a JSON Lines file (the evaluation contract).

    clearinghouse triage --input IN.jsonl --output OUT.jsonl [--fresh] [--workers N]

One output line per input line, in order. ``--fresh`` uses an empty index and touches no
database; otherwise the stored corpus is loaded first (read only) so that families and
duplicates are found against it too. Nothing is written to the database either way.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clearinghouse.intake.schema import SubmissionError, parse_json_bytes, parse_submission
from clearinghouse.triage.engine import (
    SimilarityIndex,
    TriageEngine,
    TriageInput,
    result_to_json,
    triage_input_from_report,
)

err = Console(stderr=True)


def _read(path: Path) -> Iterator[tuple[int, str, TriageInput | None, str | None]]:
    """(line number, ref, input or None, error or None) for every non-blank line."""
    with path.open("rb") if str(path) != "-" else sys.stdin.buffer as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            ref = str(number)
            try:
                data = parse_json_bytes(raw)
                if not isinstance(data, dict):
                    raise SubmissionError(None, "line must be a JSON object", code="invalid_type")
                given_ref = data.pop("ref", None)
                if given_ref is not None:
                    ref = str(given_ref)
                parse_submission(data)  # the API's schema decides what a report is
            except SubmissionError as error:
                yield number, ref, None, f"{error.field or 'line'}: {error.reason}"
                continue
            yield number, ref, triage_input_from_report(ref, data), None


def _stored_engine() -> TriageEngine:
    """An engine whose index holds the stored corpus, with the database's family names."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    import django

    django.setup()
    from clearinghouse.triage.models import TriageRecord

    index = SimilarityIndex()
    first_of_family: dict[int, int] = {}
    names: dict[int, str] = {}
    rows = TriageRecord.objects.order_by("sequence").values_list(
        "report_id",
        "signature",
        "target_keys",
        "exact_key",
        "payload_key",
        "family_id",
        "family__name",
    )
    for (
        report_id,
        signature,
        target_keys,
        exact_key,
        payload_key,
        family_id,
        family_name,
    ) in rows.iterator():
        join = [first_of_family[family_id]] if family_id in first_of_family else []
        position = index.add(
            ref=str(report_id),
            signature=np.frombuffer(bytes(signature), dtype=np.uint32),
            targets=frozenset(tuple(pair) for pair in target_keys),
            exact_key=bytes.fromhex(exact_key),
            payload_key=payload_key & 0xFFFFFFFFFFFFFFFF,
            join=join,
        )
        if family_id not in first_of_family:
            first_of_family[family_id] = position
            names[position] = family_name
    return TriageEngine(index, family_names=names)


def triage_command(
    input_path: Annotated[
        Path, typer.Option("--input", help="Reports, one JSON object per line; - for stdin.")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="Where to write one result per line; - for stdout.")
    ],
    fresh: Annotated[
        bool, typer.Option(help="Triage against an empty index; no database is read.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes for the per-report work [default: CPUs, 1 for small files]."),
    ] = None,
) -> None:
    """Classify, de-duplicate and prioritise a file of reports (nothing is stored)."""
    lines = list(_read(input_path))
    engine = TriageEngine() if fresh else _stored_engine()
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if len(lines) >= 2000 else 1
    inputs = [item for _, _, item, _ in lines if item is not None]
    with Progress(
        TextColumn("triage"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=len(inputs) < 50,
    ) as progress:
        bar = progress.add_task("triage", total=len(inputs))

        def counted() -> Iterator[TriageInput]:
            for item in inputs:
                yield item
                progress.advance(bar)

        results = iter(engine.triage_many(counted(), workers=workers))
    errors = 0
    out = sys.stdout if str(output_path) == "-" else output_path.open("w", encoding="utf-8")
    try:
        for number, ref, item, error in lines:
            if item is None:
                errors += 1
                err.print(f"[yellow]line {number}:[/yellow] {error}")
                line: dict[str, Any] = {"ref": ref, "error": error}
            else:
                line = result_to_json(next(results))
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    err.print(f"triaged {len(inputs)} report(s); {errors} line(s) could not be read")
    if errors and not inputs:
        raise typer.Exit(1)
