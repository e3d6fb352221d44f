"""Importers: scanner output (garak, PyRIT, promptfoo) in, report submissions out.

Pure package (no Django): ``IMPORTERS[format_name]().read(path)`` yields a ``Finding`` per distinct
finding and a ``SkippedRecord`` per record it could not use, in constant memory. Submitting the
findings is ``intake.commands``' job. How to add an importer: docs/plugins/importers.md.
"""

from __future__ import annotations

from clearinghouse.intake.importers.base import (
    Draft,
    Finding,
    Importer,
    ImporterError,
    ImportRecord,
    RawRecord,
    ReadProgress,
    RecordError,
    RunInfo,
    RunState,
    SkippedRecord,
    Source,
    UnreadableFile,
)
from clearinghouse.intake.importers.garak import GarakImporter
from clearinghouse.intake.importers.promptfoo import PromptfooImporter
from clearinghouse.intake.importers.pyrit import PyritImporter

IMPORTERS: dict[str, type[Importer]] = {
    importer.format_name: importer for importer in (GarakImporter, PyritImporter, PromptfooImporter)
}

__all__ = [
    "IMPORTERS",
    "Draft",
    "Finding",
    "ImportRecord",
    "Importer",
    "ImporterError",
    "RawRecord",
    "ReadProgress",
    "RecordError",
    "RunInfo",
    "RunState",
    "SkippedRecord",
    "Source",
    "UnreadableFile",
]
