"""Taxonomy identifiers (OWASP LLM 2025, MITRE ATLAS, AVID, CWE) loaded from the package's data file."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

THREAT_TYPES = (
    "jailbreak",
    "prompt_injection_direct",
    "prompt_injection_indirect",
    "system_prompt_leakage",
    "sensitive_information_disclosure",
    "improper_output_handling",
    "excessive_agency",
    "misinformation",
    "unbounded_consumption",
    "data_poisoning",
    "supply_chain",
    "other",
)

HARM_CATEGORIES = (
    "cyber",
    "cbrn",
    "violence_weapons",
    "self_harm",
    "hate_harassment",
    "sexual",
    "privacy",
    "fraud_illegal",
    "misinformation",
    "none",
)


@dataclass(frozen=True, slots=True)
class Mapping:
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    avid: tuple[str, ...]
    cwe: tuple[str, ...]


@functools.cache
def taxonomies() -> dict[str, Any]:
    """The whole data file: ``versions`` and the name of every identifier we emit."""
    raw = resources.files(__package__).joinpath("data/taxonomies.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


@functools.cache
def mapping_for(threat_type: str) -> Mapping:
    entry = taxonomies()["threat_types"][threat_type]
    return Mapping(
        owasp=tuple(entry["owasp"]),
        atlas=tuple(entry["atlas"]),
        avid=tuple(entry["avid"]),
        cwe=tuple(entry["cwe"]),
    )
