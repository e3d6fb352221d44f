"""The triage engine: normalise, classify, de-duplicate into families, prioritise.

Pure Python and numpy, no Django: the background task, the ``clearinghouse triage`` command and
the benchmarks all run the same code. Public surface below; everything else is internal.
"""

from clearinghouse.triage.engine.engine import (
    Analysis,
    TriageEngine,
    analyse,
    result_to_json,
    triage_input_from_report,
)
from clearinghouse.triage.engine.index import SimilarityIndex
from clearinghouse.triage.engine.types import (
    Label,
    Priority,
    Similar,
    Target,
    TriageInput,
    TriageResult,
    Turn,
)

__all__ = [
    "Analysis",
    "Label",
    "Priority",
    "Similar",
    "SimilarityIndex",
    "Target",
    "TriageEngine",
    "TriageInput",
    "TriageResult",
    "Turn",
    "analyse",
    "result_to_json",
    "triage_input_from_report",
]
