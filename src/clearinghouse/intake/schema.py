"""The JSON schema of a report: the one definition used by the API, the web form and the CLI.

Pure module (pydantic only, no Django) so the CLI can validate files offline and the benchmarks
can build reports in bulk. ``ReportSubmission.model_json_schema()`` is what the OpenAPI document
publishes.

Reports are attack text by design, so the schema checks shape and size but never content: a
``<script>`` tag, an ANSI escape or a bidi override is a valid string here and is stored as sent.
Two things are refused because no database can keep them byte-exact: U+0000 (PostgreSQL text
cannot hold it) and unpaired surrogates (not encodable as UTF-8).
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

MAX_TURNS = 200
MAX_TARGETS = 50
MAX_CONTEXT_DOCUMENTS = 20
MAX_TURN_CHARS = 200_000
MAX_DOCUMENT_CHARS = 200_000
MAX_OUTPUT_CHARS = 200_000
MAX_DESCRIPTION_CHARS = 50_000
MAX_OBJECTIVE_CHARS = 5_000

_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains U+0000 (NUL), which cannot be stored; remove or escape it")
    if _SURROGATE.search(value):
        raise ValueError("contains an unpaired UTF-16 surrogate, which is not valid Unicode")
    return value


_STORABLE = AfterValidator(_storable)


def _limits(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(max_length=max_length, min_length=min_length, strict=True)


ShortText = Annotated[str, _limits(200, 1), _STORABLE]
Title = Annotated[str, _limits(300, 1), _STORABLE]
Version = Annotated[str, _limits(100), _STORABLE]
Description = Annotated[str, _limits(MAX_DESCRIPTION_CHARS), _STORABLE]
TurnContent = Annotated[str, _limits(MAX_TURN_CHARS), _STORABLE]
DocumentText = Annotated[str, _limits(MAX_DOCUMENT_CHARS), _STORABLE]
OutputText = Annotated[str, _limits(MAX_OUTPUT_CHARS), _STORABLE]
Objective = Annotated[str, _limits(MAX_OBJECTIVE_CHARS), _STORABLE]
SystemPrompt = Annotated[str, _limits(MAX_TURN_CHARS), _STORABLE]


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 labels (FIRST), strictest last."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class ThreatType(StrEnum):
    """Threat types; OWASP Top 10 for LLM Applications 2025 is the backbone of this list."""

    JAILBREAK = "jailbreak"
    PROMPT_INJECTION_DIRECT = "prompt_injection_direct"
    PROMPT_INJECTION_INDIRECT = "prompt_injection_indirect"
    SYSTEM_PROMPT_LEAKAGE = "system_prompt_leakage"
    SENSITIVE_INFORMATION_DISCLOSURE = "sensitive_information_disclosure"
    IMPROPER_OUTPUT_HANDLING = "improper_output_handling"
    EXCESSIVE_AGENCY = "excessive_agency"
    MISINFORMATION = "misinformation"
    UNBOUNDED_CONSUMPTION = "unbounded_consumption"
    DATA_POISONING = "data_poisoning"
    SUPPLY_CHAIN = "supply_chain"
    OTHER = "other"


class _Strict(BaseModel):
    # Unknown fields are an error, not silently dropped: a misspelt "objectve" must not be lost.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Target(_Strict):
    """A model the report claims to affect. Matched to the catalog by vendor and model name."""

    vendor: ShortText = Field(description="Vendor name or slug, e.g. 'Example Labs'.")
    model: ShortText = Field(description="Model name as the vendor publishes it.")
    version: Version = Field(default="", description="Model version or snapshot; empty if unknown.")


class Turn(_Strict):
    role: Literal["user", "assistant", "tool"]
    content: TurnContent


MAX_MARKERS = 20
MIN_MARKER_CHARS = 4


class SuccessMarker(_Strict):
    """Proof of success the reporter declares; replay's canary detector looks for it verbatim
    (after normalisation) in every response."""

    kind: Literal["canary", "exfiltration_url", "system_prompt"] = Field(
        description="canary: a string the attack makes the model say; exfiltration_url: an "
        "address the model is steered to emit; system_prompt: the known system prompt."
    )
    value: Annotated[str, _limits(MAX_TURN_CHARS, MIN_MARKER_CHARS), _STORABLE] = Field(
        description=f"The marker itself, at least {MIN_MARKER_CHARS} characters (a shorter one "
        "would be found by chance)."
    )


class ProofOfConcept(_Strict):
    """The attack as a structured conversation."""

    system: SystemPrompt | None = Field(default=None, description="System prompt, if known.")
    turns: list[Turn] = Field(min_length=1, max_length=MAX_TURNS)
    objective: Objective | None = Field(
        default=None, description="What the attacker wanted the model to do."
    )
    context_documents: list[DocumentText] = Field(
        default_factory=list,
        max_length=MAX_CONTEXT_DOCUMENTS,
        description="Text the model was fed (web pages, files, tool results): indirect injection.",
    )
    success_markers: list[SuccessMarker] = Field(
        default_factory=list,
        max_length=MAX_MARKERS,
        description="Markers whose appearance in a response proves the attack worked.",
    )

    @model_validator(mode="after")
    def _has_user_turn(self) -> ProofOfConcept:
        if not any(turn.role == "user" and turn.content.strip() for turn in self.turns):
            raise ValueError("needs at least one non-empty user turn")
        return self


class Claims(_Strict):
    """What the reporter says about reliability and cost. Replay measures these; here they are claims."""

    success_rate: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    attempts: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    cost_usd: Annotated[float, Field(ge=0.0, le=10_000_000.0)] | None = None


class ReportSubmission(_Strict):
    """A vulnerability report as a reporter submits it."""

    title: Title
    description: Description = ""
    targets: list[Target] = Field(min_length=1, max_length=MAX_TARGETS)
    poc: ProofOfConcept
    observed_output: OutputText = ""
    claims: Claims = Field(default_factory=Claims)
    # Enums are matched by value: strict mode would demand enum instances from decoded JSON.
    tlp: Tlp = Field(
        default=Tlp.AMBER, strict=False, description="TLP 2.0 marking; AMBER if omitted."
    )
    threat_type: ThreatType | None = Field(
        default=None,
        strict=False,
        description="The reporter's view of the threat type; triage decides its own.",
    )

    def canonical_json(self) -> bytes:
        """Stable bytes for hashing: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()


# ---- parsing raw bytes, shared by the API parser and the CLI -------------------------------------


class SubmissionError(ValueError):
    """Raw input that is not a valid submission: ``field`` is a dotted path, ``reason`` says why."""

    def __init__(self, field: str | None, reason: str, code: str = "invalid") -> None:
        super().__init__(f"{field or 'body'}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key are read differently by different parsers: a smuggling vector.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SubmissionError(key, "duplicate key in JSON object", code="invalid_json")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise SubmissionError(None, f"{name} is not valid JSON", code="invalid_json")


def parse_json_bytes(raw: bytes) -> Any:
    """Decode strict UTF-8 and parse strict JSON (no duplicate keys, no NaN/Infinity)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            None, f"body is not valid UTF-8 (byte {error.start})", code="invalid_encoding"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise SubmissionError(
            None,
            f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise SubmissionError(None, "JSON nested too deeply", code="invalid_json") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """``("poc", "turns", 3, "content")`` → ``"poc.turns[3].content"``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def first_error(error: ValidationError) -> SubmissionError:
    """The first pydantic error as a SubmissionError with a readable path and reason."""
    details = error.errors(include_url=False)
    detail = details[0]
    # pydantic appends the failing union member or validator name to the location; drop those.
    location = tuple(
        part
        for part in detail["loc"]
        if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
    )
    message = str(detail["msg"]).removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = "unknown field"
    elif detail["type"] == "missing":
        message = "field required"
    return SubmissionError(field_path(location) or None, message, code=str(detail["type"]))


def parse_submission(raw: bytes | str | dict[str, Any]) -> ReportSubmission:
    """Validate raw JSON bytes, text or a decoded object. Raises SubmissionError."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    data = parse_json_bytes(raw) if isinstance(raw, bytes) else raw
    if not isinstance(data, dict):
        raise SubmissionError(None, "body must be a JSON object", code="invalid_type")
    try:
        return ReportSubmission.model_validate(data)
    except ValidationError as error:
        raise first_error(error) from None
