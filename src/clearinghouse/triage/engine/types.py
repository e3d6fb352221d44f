"""Data in and out of the triage engine. Plain frozen dataclasses: no Django, no pydantic."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    vendor: str
    model: str
    version: str = ""

    def key(self) -> tuple[str, str]:
        """Vendor and model, case-folded: what "overlapping targets" compares (versions ignored)."""
        return (self.vendor.casefold().strip(), self.model.casefold().strip())


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user", "assistant" or "tool"
    content: str


@dataclass(frozen=True, slots=True)
class TriageInput:
    """One report as the engine sees it: the fields of the API schema that matter for triage."""

    ref: str
    title: str = ""
    description: str = ""
    targets: tuple[Target, ...] = ()
    system: str = ""
    turns: tuple[Turn, ...] = ()
    objective: str = ""
    context_documents: tuple[str, ...] = ()
    observed_output: str = ""
    claimed_success_rate: float | None = None
    claimed_attempts: int | None = None
    reporter_threat_type: str = ""  # the reporter's claim; evidence, never a verdict


@dataclass(frozen=True, slots=True)
class Label:
    """A label with the engine's confidence (0–1) and the evidence that produced it."""

    value: str
    confidence: float
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Similar:
    ref: str
    score: float  # estimated Jaccard similarity of the jailbreak wrappers, 0–1


@dataclass(frozen=True, slots=True)
class Priority:
    ssvc: str  # "track", "track*", "attend" or "act"
    jef: float  # 0–10
    inputs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TriageResult:
    ref: str
    threat_type: Label
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    avid: tuple[str, ...]
    cwe: tuple[str, ...]
    techniques: tuple[Label, ...]
    harm_category: Label
    family: str
    duplicate_of: str | None  # an exact or near-exact earlier report, if any
    similar: tuple[Similar, ...]
    priority: Priority
    normalized_wrapper: str = ""
    payload: str = ""
    decoded_layers: tuple[str, ...] = ()  # e.g. ("base64",): encodings found and decoded
