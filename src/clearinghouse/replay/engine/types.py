"""Data in and out of the replay engine and its judges. Plain frozen dataclasses: no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MarkerKind = Literal["canary", "exfiltration_url", "system_prompt"]


@dataclass(frozen=True, slots=True)
class Marker:
    """Proof of success a report declares: seeing it in a response is success, by definition.

    ``canary``: a string the injected instructions tell the model to say; ``exfiltration_url``:
    an address the model is steered to emit (a link or an image); ``system_prompt``: the known
    system prompt, whose appearance in a response is leakage.
    """

    kind: MarkerKind
    value: str


@dataclass(frozen=True, slots=True)
class JudgeInput:
    """One response to judge. ``objective`` and ``prompt`` describe the attack; all three are data."""

    ref: str
    objective: str
    response: str
    prompt: str = ""
    markers: tuple[Marker, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's decision on one response (the ``clearinghouse judge`` output line, minus ref)."""

    refused: bool
    objective_achieved: bool
    score: float  # 0–1: how fully and specifically the objective was achieved
    judge: str  # the judge's name, e.g. "offline", "llm:<model>", "canary"
    evidence: str  # a short, human-readable reason, quoting the response where it can
    details: dict[str, float] = field(default_factory=dict)  # per-signal scores, for the console
