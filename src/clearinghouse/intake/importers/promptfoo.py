"""promptfoo red-team results: the JSON file ``promptfoo eval -o results.json`` writes.

The file is one object: ``evalId``, ``results`` (``version``, ``timestamp``, ``prompts``,
``results``: one EvaluateResult per test and provider, ``stats``), ``config``, ``shareableUrl`` and
``metadata`` (``promptfooVersion``). An EvaluateResult has ``provider`` (``id`` such as
``openai:chat:gpt-4o``, ``label``), ``prompt.raw``, ``response.output``, ``success``, ``score``,
``failureReason`` (1 an assertion failed, 2 an error), ``gradingResult`` (``pass``, ``reason``),
``vars``, ``testCase.metadata`` and ``metadata`` (``pluginId``, ``strategyId``, ``goal``,
``severity``). In red teaming the assertions say "the model resisted": a result that failed them
(``success`` false, ``failureReason`` 1) is an attack that got through. Multi-turn strategies keep
the conversation in ``response.metadata.messages`` or ``redteamHistory``; iterative jailbreaks keep
the prompt that worked in ``redteamFinalPrompt``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from clearinghouse.intake.importers.base import (
    Draft,
    Importer,
    RawRecord,
    RecordError,
    RunState,
    clip,
    report_fields,
    text_or_empty,
    type_name,
)
from clearinghouse.intake.importers.sources import JsonDocument
from clearinghouse.intake.schema import MAX_OBJECTIVE_CHARS

ASSERTION_FAILED = 1  # promptfoo's ResultFailureReason.ASSERT; 2 (ERROR) is not a finding

# Where the vulnerability is clear from the plugin; for content-harm plugins (harmful:*) the
# strategy says more (a jailbreak, an injection).
PLUGIN_THREAT_TYPES = {
    "prompt-extraction": "system_prompt_leakage",
    "indirect-prompt-injection": "prompt_injection_indirect",
    "system-prompt-override": "prompt_injection_direct",
    "ascii-smuggling": "prompt_injection_direct",
    "special-token-injection": "prompt_injection_direct",
    "cyberseceval": "prompt_injection_direct",
    "pliny": "jailbreak",
    "rag-poisoning": "data_poisoning",
    "agentic:memory-poisoning": "data_poisoning",
    "rag-document-exfiltration": "sensitive_information_disclosure",
    "cross-session-leak": "sensitive_information_disclosure",
    "divergent-repetition": "sensitive_information_disclosure",
    "excessive-agency": "excessive_agency",
    "bola": "excessive_agency",
    "bfla": "excessive_agency",
    "rbac": "excessive_agency",
    "sql-injection": "improper_output_handling",
    "shell-injection": "improper_output_handling",
    "ssrf": "improper_output_handling",
    "debug-access": "improper_output_handling",
    "hallucination": "misinformation",
    "overreliance": "misinformation",
    "reasoning-dos": "unbounded_consumption",
}
PLUGIN_PREFIX_THREAT_TYPES = {"pii": "sensitive_information_disclosure", "harmful:": "jailbreak"}
JAILBREAK_STRATEGIES = frozenset(
    {"crescendo", "goat", "best-of-n", "likert", "math-prompt", "citation", "mischievous-user"}
)


def threat_type_for(plugin: str, strategy: str) -> str | None:
    """Our threat type for a promptfoo plugin and strategy, where the mapping is clear."""
    by_strategy = None
    if strategy.startswith("jailbreak") or strategy in JAILBREAK_STRATEGIES:
        by_strategy = "jailbreak"
    elif strategy == "prompt-injection":
        by_strategy = "prompt_injection_direct"
    by_plugin = PLUGIN_THREAT_TYPES.get(plugin)
    if by_plugin is None:
        by_plugin = next(
            (
                kind
                for prefix, kind in PLUGIN_PREFIX_THREAT_TYPES.items()
                if plugin.startswith(prefix)
            ),
            None,
        )
    if plugin.startswith("harmful:"):
        return by_strategy or by_plugin
    return by_plugin or by_strategy


class PromptfooImporter(Importer):
    """promptfoo red-team results JSON (promptfoo eval -o results.json): attacks that got through.

    The target is the result's provider: ``openai:chat:gpt-4o`` gives vendor ``openai`` and model
    ``gpt-4o``; an HTTP target gives its host and its label. The run id is the ``evalId``. The file
    is one JSON document and is read whole, so it is refused above 64 MiB.
    """

    format_name = "promptfoo"
    scanner = "promptfoo"
    file_kinds = ("*.json",)
    source = JsonDocument(records_at=("results", "results"))

    def _parse(self, record: RawRecord, state: RunState) -> Draft | None:
        value = record.value
        if record.header:
            self._header(value, state)
            return None
        if not isinstance(value, dict):
            raise RecordError("not a JSON object", f"a JSON {type_name(value)}")
        if value.get("success") is not False:
            return None  # passed: the model resisted
        failure = value.get("failureReason")
        if failure is not None and failure != ASSERTION_FAILED:
            return None  # an error (the target failed to answer), not a verdict
        metadata = {
            **_object(_object(value.get("testCase")).get("metadata")),
            **_object(value.get("metadata")),
        }
        plugin = text_or_empty(metadata.get("pluginId"))
        if not plugin:
            raise RecordError("not a red-team result", "a failed test without metadata.pluginId")
        strategy = text_or_empty(metadata.get("strategyId")) or "basic"
        vendor, model, provider_id = _provider(value.get("provider"))
        response = _object(value.get("response"))
        system, turns, output = _exchange(value, response, metadata)
        goal = text_or_empty(metadata.get("goal"))
        grading = _object(value.get("gradingResult"))
        lines = [
            f"Imported from promptfoo eval {state.run_id}, result {record.number}.",
            f"Plugin: {plugin}; strategy: {strategy}",
            f"Provider: {provider_id}",
        ]
        if severity := text_or_empty(metadata.get("severity")):
            lines.append(f"Severity (promptfoo): {severity}")
        if reason := text_or_empty(grading.get("reason")):
            lines.append(f"Grader: {clip(reason, 2_000)}")
        poc: dict[str, object] = {"turns": turns}
        if system is not None:
            poc["system"] = system
        if goal:
            poc["objective"] = goal[:MAX_OBJECTIVE_CHARS]
        subject = goal or f"against {model}"
        report = report_fields(
            title=f"promptfoo {plugin} via {strategy}: {subject}",
            description_lines=lines,
            vendor=vendor,
            model=model,
            poc=poc,
            observed_output=output,
        )
        if (kind := threat_type_for(plugin, strategy)) is not None:
            report["threat_type"] = kind
        return Draft(report=report, finding_key=_finding_key(value, provider_id))

    @staticmethod
    def _header(document: object, state: RunState) -> None:
        header = _object(document)
        eval_id = text_or_empty(header.get("evalId")).strip()
        if not eval_id:
            timestamp = text_or_empty(_object(header.get("results")).get("timestamp")).strip()
            eval_id = f"results-{timestamp}" if timestamp else ""
        state.run_id = eval_id
        state.scanner_version = text_or_empty(
            _object(header.get("metadata")).get("promptfooVersion")
        )


def _object(value: object) -> dict[str, object]:
    return {str(key): item for key, item in value.items()} if isinstance(value, dict) else {}


def _finding_key(result: dict[str, object], provider_id: str) -> str:
    result_id = text_or_empty(result.get("id")).strip()
    if result_id:
        return result_id
    test, prompt = result.get("testIdx"), result.get("promptIdx")
    return f"test{test}-prompt{prompt}-{provider_id}"


def _provider(provider: object) -> tuple[str, str, str]:
    """(vendor, model, provider id) from ``openai:chat:gpt-4o``, ``http`` + label, a URL, ..."""
    if isinstance(provider, str):
        provider_id, label = provider.strip(), ""
    else:
        fields = _object(provider)
        provider_id = text_or_empty(fields.get("id")).strip()
        label = text_or_empty(fields.get("label")).strip()
    if not provider_id and not label:
        raise RecordError("no provider", "the result names no provider id or label")
    if "://" in provider_id:
        url = urlsplit(provider_id)
        if url.scheme in ("http", "https") and url.hostname:
            return url.hostname, label or url.path.strip("/") or url.hostname, provider_id
        return url.scheme or "custom", label or provider_id, provider_id
    parts = [part for part in provider_id.split(":") if part]
    if len(parts) > 1:
        return parts[0], parts[-1], provider_id
    return (parts[0] if parts else "custom"), label or provider_id, provider_id or label


def _text(value: object) -> str:
    """Text of a prompt or an output: strings as they are, structured outputs as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _chat(messages: object) -> list[tuple[str, str]] | None:
    """[(role, content)] of a chat message list, or None when it is not one."""
    if not isinstance(messages, list) or not messages:
        return None
    chat: list[tuple[str, str]] = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return None
        chat.append((str(message["role"]), _text(message.get("content"))))
    return chat


def _exchange(
    result: dict[str, object], response: dict[str, object], metadata: dict[str, object]
) -> tuple[str | None, list[dict[str, str]], str]:
    """System prompt, turns before the answer that got through, and that answer."""
    output = _text(response.get("output"))
    response_metadata = _object(response.get("metadata"))
    # A multi-turn strategy keeps the conversation; an iterative one keeps the prompt that worked
    # (its redteamHistory is a list of separate tries, not a conversation).
    chat = _chat(response_metadata.get("messages"))
    final = response_metadata.get("redteamFinalPrompt") or metadata.get("redteamFinalPrompt")
    if chat is None and isinstance(final, str) and final:
        chat = [("user", final)]
    if chat is None:
        history = response_metadata.get("redteamHistory")
        if (
            isinstance(history, list)
            and history
            and all(isinstance(step, dict) for step in history)
        ):
            chat = []
            for step in history:
                chat.append(("user", _text(step.get("prompt"))))
                chat.append(("assistant", _text(step.get("output"))))
    if chat is None:
        raw = _object(result.get("prompt")).get("raw")
        chat = _chat(_json_list(raw)) or [("user", _text(raw))]
    if chat and chat[-1][0] == "assistant":
        output = chat[-1][1] or output
        chat = chat[:-1]
    system = [content for role, content in chat if role in ("system", "developer")]
    turns = [
        {"role": role, "content": content}
        for role, content in chat
        if role not in ("system", "developer")
    ]
    return ("\n\n".join(system) if system else None), turns, output


def _json_list(raw: object) -> object:
    """A prompt that is a JSON chat (``[{"role": ..., "content": ...}]``) decoded; else None."""
    if not isinstance(raw, str) or not raw.lstrip().startswith("["):
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
