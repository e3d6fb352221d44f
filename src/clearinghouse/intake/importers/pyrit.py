"""PyRIT (Microsoft's Python Risk Identification Tool): its SQLite memory database.

The schema is PyRIT 1.1.0's (``pyrit/memory/memory_models.py``, alembic head 8d1e3f5a7b9c):

- ``PromptMemoryEntries``: one row per message piece: ``conversation_id``, ``sequence`` (pieces of
  one message share it), ``role``, ``converted_value`` (what the target saw or said) and its
  ``converted_value_data_type``, ``original_prompt_id``, ``pyrit_version``.
- ``Conversations``: ``target_identifier``, a JSON identifier of the target (``class_name``,
  ``class_module``, ``model_name``, ``underlying_model_name``, ``endpoint``).
- ``ScoreEntries``: ``score_type`` (``true_false``, ``float_scale``), ``score_value`` ("True"),
  ``scorer_class_identifier``, ``score_rationale``, ``objective``; ``prompt_request_response_id``
  points at the scored piece's ``original_prompt_id``.
- ``AttackResultEntries``: one row per attack run on a conversation: ``objective``, ``outcome``
  (``success``, ``failure``, ``error``, ``undetermined``), ``last_response_id``, ``last_score_id``.

A finding is a conversation whose attack result says ``success``; a conversation without an attack
result is a finding when a ``true_false`` score says True on an assistant answer (refusal scorers
excepted: their True means the model refused). The finding key is the conversation id, which PyRIT
makes a uuid: a memory database that grew since the last import gives only the new findings.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

from clearinghouse.intake.importers.base import (
    Draft,
    Importer,
    ProgressCallback,
    RawRecord,
    RecordError,
    RunState,
    SkippedRecord,
    clip,
    report_fields,
    text_or_empty,
)
from clearinghouse.intake.importers.sources import SqliteSource
from clearinghouse.intake.schema import MAX_OBJECTIVE_CHARS

MEMORY_RUN_ID = "memory"  # PyRIT has no run id: a memory database accumulates many sessions
_MAX_PIECES = 2_000
_MAX_SCORES = 50
_TEXT_TYPES = frozenset({"text", "url"})
_ROLES = {"simulated_assistant": "assistant", "developer": "system"}
_JAILBREAK_ATTACKS = ("Crescendo", "SkeletonKey", "ManyShotJailbreak", "TreeOfAttacks", "Jailbreak")


class PyritMemory(SqliteSource):
    """Successful conversations of a PyRIT memory database, each with its pieces and scores."""

    schema_name = "PyRIT memory database"
    required_columns: ClassVar[dict[str, tuple[str, ...]]] = {
        "PromptMemoryEntries": (
            "id",
            "conversation_id",
            "sequence",
            "role",
            "timestamp",
            "original_value",
            "converted_value",
            "converted_value_data_type",
            "original_prompt_id",
            "pyrit_version",
        ),
        "Conversations": ("conversation_id", "target_identifier"),
        "ScoreEntries": (
            "id",
            "score_value",
            "score_type",
            "score_rationale",
            "scorer_class_identifier",
            "prompt_request_response_id",
            "objective",
        ),
        "AttackResultEntries": (
            "id",
            "conversation_id",
            "objective",
            "outcome",
            "outcome_reason",
            "last_response_id",
            "last_score_id",
            "executed_turns",
            "atomic_attack_identifier",
            "timestamp",
        ),
    }
    version_table = "pyrit_memory_alembic_version"
    known_version = "PyRIT 1.1.0's (revision 8d1e3f5a7b9c)"

    def rows(
        self, connection: sqlite3.Connection, progress: ProgressCallback
    ) -> Iterator[RawRecord | SkippedRecord]:
        number = 0
        attacks = connection.execute(
            "SELECT id, conversation_id, objective, outcome, outcome_reason, last_response_id,"
            " last_score_id, executed_turns, atomic_attack_identifier"
            " FROM AttackResultEntries WHERE outcome = 'success'"
            " ORDER BY conversation_id, timestamp, id"
        )
        previous: object = None
        for attack in attacks:
            if attack["conversation_id"] == previous:
                continue  # one finding per conversation, however many results name it
            previous = attack["conversation_id"]
            number += 1
            scores = []
            if attack["last_score_id"] is not None:
                scores = _fetch(
                    connection,
                    "SELECT NULL AS sequence, score_value, score_rationale, scorer_class_identifier,"
                    " objective FROM ScoreEntries WHERE id = ?",
                    (attack["last_score_id"],),
                )
            yield self._conversation(connection, number, previous, dict(attack), scores)
            progress(number, None)
        # Conversations that no attack result decides: scored True by a true_false scorer.
        candidates = connection.execute(
            "SELECT p.conversation_id AS conversation_id, p.sequence AS sequence, s.score_value,"
            " s.score_rationale, s.scorer_class_identifier, s.objective"
            " FROM ScoreEntries s"
            " JOIN PromptMemoryEntries p ON p.original_prompt_id = s.prompt_request_response_id"
            " WHERE s.score_type = 'true_false' AND lower(s.score_value) = 'true'"
            " AND p.role IN ('assistant', 'simulated_assistant')"
            " AND NOT EXISTS (SELECT 1 FROM AttackResultEntries a"
            "                 WHERE a.conversation_id = p.conversation_id)"
            " ORDER BY p.conversation_id, p.sequence"
        )
        for conversation_id, group in itertools.groupby(
            candidates, key=lambda row: row["conversation_id"]
        ):
            number += 1
            scores = [dict(row) for row in itertools.islice(group, _MAX_SCORES)]
            yield self._conversation(connection, number, conversation_id, None, scores)
            progress(number, None)
        progress(number, number)

    @staticmethod
    def _conversation(
        connection: sqlite3.Connection,
        number: int,
        conversation_id: object,
        attack: dict[str, object] | None,
        scores: list[dict[str, object]],
    ) -> RawRecord | SkippedRecord:
        pieces = _fetch(
            connection,
            "SELECT id, role, sequence, original_value, converted_value, converted_value_data_type,"
            " pyrit_version FROM PromptMemoryEntries WHERE conversation_id = ?"
            " ORDER BY sequence, timestamp, id LIMIT ?",
            (conversation_id, _MAX_PIECES + 1),
        )
        if len(pieces) > _MAX_PIECES:
            return SkippedRecord(
                number, "conversation too long", f"{conversation_id}: over {_MAX_PIECES} pieces"
            )
        target = connection.execute(
            "SELECT target_identifier FROM Conversations WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        return RawRecord(
            number,
            {
                "conversation_id": conversation_id,
                "attack": attack,
                "scores": scores,
                "pieces": pieces,
                "target": target[0] if target is not None else None,
            },
        )


def _fetch(
    connection: sqlite3.Connection, query: str, parameters: tuple[object, ...]
) -> list[dict[str, object]]:
    return [dict(row) for row in connection.execute(query, parameters)]


class PyritImporter(Importer):
    """PyRIT memory database (SQLite): conversations whose attack succeeded or was scored True.

    The PoC is the conversation up to the answer that succeeded (the attack result's last
    response, else the last answer scored True), built from the pieces in ``sequence`` order; the
    target is the conversation's target identifier (vendor = its PyRIT target package, model = the
    underlying model name, else the model or deployment name).
    """

    format_name = "pyrit"
    scanner = "PyRIT"
    file_kinds = ("*.db", "*.sqlite", "*.sqlite3")
    source = PyritMemory()

    def _parse(self, record: RawRecord, state: RunState) -> Draft | None:
        value = record.value
        if not isinstance(value, dict):
            raise TypeError("PyritMemory yields dicts")
        conversation_id = str(value.get("conversation_id"))
        attack = value.get("attack")
        attack = attack if isinstance(attack, dict) else None
        scores = [score for score in _list(value.get("scores")) if isinstance(score, dict)]
        pieces = [piece for piece in _list(value.get("pieces")) if isinstance(piece, dict)]
        state.run_id = MEMORY_RUN_ID
        if not state.scanner_version and pieces:
            state.scanner_version = text_or_empty(pieces[0].get("pyrit_version"))
        if attack is None:
            scores = [score for score in scores if not _is_refusal_scorer(score)]
            if not scores:
                return None  # only refusal scorers said True: the model refused
        if not pieces:
            raise RecordError("conversation has no messages", conversation_id)
        messages = _messages(pieces)
        answer_at = _answer_sequence(messages, pieces, attack, scores)
        if answer_at is None:
            raise RecordError("no assistant answer in the conversation", conversation_id)
        before = [message for message in messages if message[0] < answer_at]
        answer = next(text for sequence, _, text in messages if sequence == answer_at)
        system = [text for _, role, text in before if role == "system"]
        turns = [{"role": role, "content": text} for _, role, text in before if role != "system"]
        vendor, model, target_facts = _target(value.get("target"), conversation_id)
        objective = text_or_empty(attack.get("objective")) if attack else ""
        if not objective:
            objective = next(
                (text_or_empty(s.get("objective")) for s in scores if s.get("objective")), ""
            )
        attack_classes = _class_names(attack.get("atomic_attack_identifier")) if attack else []
        lines = [f"Imported from a PyRIT memory database, conversation {conversation_id}."]
        if attack is not None:
            reason = text_or_empty(attack.get("outcome_reason"))
            lines.append(f"Attack outcome: success{f' ({reason})' if reason else ''}")
            if attack_classes:
                lines.append(f"Attack: {', '.join(attack_classes)}")
            turns_run = attack.get("executed_turns")
            if isinstance(turns_run, int) and not isinstance(turns_run, bool):
                lines.append(f"Turns executed: {turns_run}")
        for score in scores[:5]:
            scorer = ", ".join(_class_names(score.get("scorer_class_identifier"))) or "a scorer"
            rationale = clip(text_or_empty(score.get("score_rationale")), 1_000)
            lines.append(f"Scored {score.get('score_value')} by {scorer}: {rationale}".rstrip(": "))
        lines.extend(target_facts)
        poc: dict[str, object] = {"turns": turns}
        if system:
            poc["system"] = "\n\n".join(system)
        if objective:
            poc["objective"] = objective[:MAX_OBJECTIVE_CHARS]
        title = f"PyRIT: {objective}" if objective else f"PyRIT attack succeeded against {model}"
        report = report_fields(
            title=title,
            description_lines=lines,
            vendor=vendor,
            model=model,
            poc=poc,
            observed_output=answer,
        )
        if any(name in cls for cls in attack_classes for name in _JAILBREAK_ATTACKS):
            report["threat_type"] = "jailbreak"
        elif any("XPIA" in cls for cls in attack_classes):
            report["threat_type"] = "prompt_injection_indirect"
        return Draft(report=report, finding_key=conversation_id)


Message = tuple[int, str, str]  # (sequence, role, text)


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _messages(pieces: list[dict[str, object]]) -> list[Message]:
    """Pieces joined into messages by ``sequence``; non-text pieces named, not inlined."""
    messages: list[Message] = []
    for sequence, group in itertools.groupby(pieces, key=lambda piece: piece.get("sequence")):
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise RecordError("message piece without a sequence number")
        parts = list(group)
        raw_role = text_or_empty(parts[0].get("role"))
        role = _ROLES.get(raw_role, raw_role)
        texts = []
        for part in parts:
            kind = text_or_empty(part.get("converted_value_data_type")) or "text"
            if kind in _TEXT_TYPES:
                value = part.get("converted_value")
                texts.append(
                    text_or_empty(value if value is not None else part.get("original_value"))
                )
            else:
                texts.append(f"[{kind} not imported]")
        messages.append((sequence, role, "\n".join(texts)))
    return messages


def _answer_sequence(
    messages: list[Message],
    pieces: list[dict[str, object]],
    attack: dict[str, object] | None,
    scores: list[dict[str, object]],
) -> int | None:
    """The sequence of the answer that succeeded: the attack's last response, else the latest
    answer scored True, else the last answer of the conversation."""
    answers = [sequence for sequence, role, _ in messages if role == "assistant"]
    if not answers:
        return None
    wanted: int | None = None
    if attack is not None and attack.get("last_response_id") is not None:
        last = str(attack.get("last_response_id"))
        wanted = next((_int(p.get("sequence")) for p in pieces if str(p.get("id")) == last), None)
    elif scores:
        scored = [_int(score.get("sequence")) for score in scores]
        wanted = max((sequence for sequence in scored if sequence is not None), default=None)
    if wanted is None:
        return answers[-1]
    earlier = [sequence for sequence in answers if sequence <= wanted]
    return earlier[-1] if earlier else answers[-1]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _json_object(value: object) -> dict[str, object] | None:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _class_names(identifier: object, limit: int = 12) -> list[str]:
    """Class names in a PyRIT identifier (a JSON tree of components), outermost first."""
    names: list[str] = []
    pending: list[tuple[object, int]] = [(_json_object(identifier), 0)]
    while pending and len(names) < limit:
        node, depth = pending.pop(0)
        if depth > 8:
            continue
        if isinstance(node, dict):
            name = node.get("class_name", node.get("__type__"))
            if isinstance(name, str) and name and name not in names:
                names.append(name)
            pending.extend(
                (child, depth + 1) for child in node.values() if isinstance(child, dict | list)
            )
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node[:50])
    return names


def _is_refusal_scorer(score: dict[str, object]) -> bool:
    names = _class_names(score.get("scorer_class_identifier"), limit=3)
    return bool(names) and "Refusal" in names[0]


def _target(raw: object, conversation_id: str) -> tuple[str, str, list[str]]:
    """(vendor, model, description lines) from a conversation's target identifier."""
    identifier = _json_object(raw)
    if identifier is None:
        raise RecordError("no target recorded for the conversation", conversation_id)
    class_name = text_or_empty(identifier.get("class_name")) or text_or_empty(
        identifier.get("__type__")
    )
    module = text_or_empty(identifier.get("class_module")) or text_or_empty(
        identifier.get("__module__")
    )
    parts = module.split(".")
    vendor = ""
    if "prompt_target" in parts:
        rest = parts[parts.index("prompt_target") + 1 :]
        vendor = rest[0] if len(rest) > 1 else ""
    vendor = vendor or class_name.removesuffix("Target") or "unknown"
    model = next(
        (
            found
            for key in ("underlying_model_name", "model_name", "deployment_name")
            if (found := text_or_empty(identifier.get(key)).strip())
        ),
        class_name or "unknown",
    )
    facts = [f"Target: {class_name or 'unknown'} ({module or 'unknown module'})"]
    host = urlsplit(text_or_empty(identifier.get("endpoint"))).hostname
    if host:
        facts.append(f"Endpoint host: {host}")
    return vendor, model, facts
