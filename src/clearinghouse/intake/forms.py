"""The web submission form: turns form fields into the API's report JSON, then the same schema decides.

The form does no validation of its own beyond shape, so the browser path and the API path can
never disagree about what a valid report is.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import QueryDict

MAX_FORM_TURNS = 200
_TURN_FIELD = re.compile(r"^turn-(\d{1,3})-(role|content)$")


def submission_from_form(data: QueryDict) -> dict[str, Any]:
    """Build the report JSON object from POSTed fields; empty optional fields are left out."""
    turns: dict[int, dict[str, str]] = {}
    for name in data:
        match = _TURN_FIELD.match(name)
        if match and int(match.group(1)) < MAX_FORM_TURNS + 1:
            turns.setdefault(int(match.group(1)), {})[match.group(2)] = data.get(name, "")
    ordered_turns = [
        {"role": turn.get("role", "user"), "content": turn.get("content", "")}
        for _, turn in sorted(turns.items())
        if turn.get("content", "").strip()
    ]
    poc: dict[str, Any] = {"turns": ordered_turns}
    if system := data.get("system", ""):
        poc["system"] = system
    if objective := data.get("objective", ""):
        poc["objective"] = objective
    documents = [doc for doc in data.getlist("context_document") if doc.strip()]
    if documents:
        poc["context_documents"] = documents
    claims: dict[str, Any] = {}
    for name, cast in (("success_rate", float), ("attempts", int), ("cost_usd", float)):
        raw = data.get(f"claims_{name}", "").strip()
        if raw:
            try:
                claims[name] = cast(raw)
            except ValueError:
                claims[name] = raw  # the schema names the field and says why it is wrong
    submission: dict[str, Any] = {
        "title": data.get("title", ""),
        "description": data.get("description", ""),
        "targets": [
            {
                "vendor": data.get("target_vendor", ""),
                "model": data.get("target_model", ""),
                "version": data.get("target_version", ""),
            }
        ],
        "poc": poc,
        "observed_output": data.get("observed_output", ""),
        "tlp": data.get("tlp", "AMBER"),
    }
    if claims:
        submission["claims"] = claims
    if threat_type := data.get("threat_type", ""):
        submission["threat_type"] = threat_type
    return submission
