"""garak (NVIDIA's LLM vulnerability scanner): ``report.jsonl`` and ``hitlog.jsonl``.

A report holds one JSON object per line: ``start_run setup`` (the run's configuration, with
``transient.run_id`` and ``plugins.target_type``/``target_name``, ``model_type``/``model_name``
before garak 0.13), ``init`` (``run``, ``garak_version``), ``plugin_cache`` (each probe's tags),
``attempt`` (written with status 1 when generated and 2 when scored), ``eval``, ``completion`` and
``digest``. An attempt is a finding when its status is 2 and a detector scored one of its outputs at
or above 0.5, garak's default threshold. ``prompt`` is a Conversation (``{"turns": [{"role",
"content": {"text"}}]}``) since garak 0.10 and a string before; ``outputs`` are Messages or strings.

A hit log holds one line per (attempt, detector, output) that garak counted as a hit, with
``run_id``, ``attempt_id``, ``probe``, ``detector``, ``score``, ``prompt``, ``output``, ``goal``
and ``generator`` ("<target type> <target name>"). One attempt is one finding whichever file it
comes from, so the finding key is the attempt's uuid in both.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from clearinghouse.intake.importers.base import (
    Draft,
    Importer,
    RawRecord,
    RecordError,
    RunState,
    report_fields,
    score_value,
    text_or_empty,
    type_name,
)
from clearinghouse.intake.importers.sources import JsonLines
from clearinghouse.intake.importers.taxonomy import OwaspLabel, taxonomy
from clearinghouse.intake.schema import MAX_OBJECTIVE_CHARS

HIT_THRESHOLD = 0.5  # garak's ThresholdEvaluator default: a score at or above it is a hit
_RECENT_ATTEMPTS = 65_536  # hit-log lines of one attempt are near each other; bounded memory
_MAX_PROBES_WITH_TAGS = 10_000

Turns = list[tuple[str, str]]


@dataclass(slots=True)
class GarakState(RunState):
    target: tuple[str, str] | None = None  # (vendor, model)
    generator: str = ""
    probe_tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    recent_attempts: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_time(self, attempt_id: str) -> bool:
        """True the first time an attempt is seen among the recent ones."""
        if attempt_id in self.recent_attempts:
            self.recent_attempts.move_to_end(attempt_id)
            return False
        self.recent_attempts[attempt_id] = None
        if len(self.recent_attempts) > _RECENT_ATTEMPTS:
            self.recent_attempts.popitem(last=False)
        return True


class GarakImporter(Importer):
    """garak report.jsonl (attempts a detector flagged) or hitlog.jsonl (one line per hit).

    The target is the run's generator: vendor = the generator module (``openai`` for
    ``openai.OpenAICompatible``), model = the target name. OWASP 2023 tags on the probe are
    remapped to the 2025 list (``data/taxonomy.json``) and written in the description; the probe
    module gives the threat type where it is clear (``promptinject``, ``latentinjection``, ``dan``).
    """

    format_name = "garak"
    scanner = "garak"
    file_kinds = ("*.report.jsonl", "*.hitlog.jsonl")
    source = JsonLines()
    state_class = GarakState

    def _parse(self, record: RawRecord, state: RunState) -> Draft | None:
        if not isinstance(state, GarakState):
            raise TypeError("GarakImporter needs a GarakState")
        value = record.value
        if not isinstance(value, dict):
            raise RecordError("not a JSON object", f"a JSON {type_name(value)}")
        entry_type = value.get("entry_type")
        if entry_type is None:
            if "attempt_id" in value and "probe" in value:
                return self._hit(value, state, record.number)
            raise RecordError("not a garak record", "no entry_type, and not a hit-log line")
        if entry_type == "start_run setup":
            self._setup(value, state)
        elif entry_type == "init":
            run = value.get("run")
            if isinstance(run, str) and run and not state.run_id:
                state.run_id = run
            version = value.get("garak_version")
            if isinstance(version, str) and version:
                state.scanner_version = version
        elif entry_type == "plugin_cache":
            self._plugin_cache(value.get("plugin_cache"), state)
        elif entry_type == "attempt":
            return self._attempt(value, state, record.number)
        elif not isinstance(entry_type, str):
            raise RecordError("not a garak record", f"entry_type is a JSON {type_name(entry_type)}")
        return None  # eval, completion, digest, probe_summary, payload_init, ...: not findings

    # ---- header lines ----------------------------------------------------------------------

    @staticmethod
    def _setup(value: dict[str, object], state: GarakState) -> None:
        # A new setup line starts a new run (report files can be concatenated).
        target_type = _first_text(value, "plugins.target_type", "plugins.model_type")
        target_name = _first_text(value, "plugins.target_name", "plugins.model_name")
        state.run_id = text_or_empty(value.get("transient.run_id"))
        state.scanner_version = text_or_empty(value.get("_config.version"))
        state.generator = target_type
        state.target = _target(target_type, target_name)
        state.probe_tags = {}

    @staticmethod
    def _plugin_cache(cache: object, state: GarakState) -> None:
        probes = cache.get("probes") if isinstance(cache, dict) else None
        if not isinstance(probes, dict):
            return
        for classpath, meta in probes.items():
            if len(state.probe_tags) >= _MAX_PROBES_WITH_TAGS:
                break
            tags = meta.get("tags") if isinstance(meta, dict) else None
            if isinstance(classpath, str) and isinstance(tags, list):
                state.probe_tags[classpath.removeprefix("probes.")] = tuple(
                    tag for tag in tags if isinstance(tag, str) and tag.lower().startswith("owasp:")
                )

    # ---- findings ----------------------------------------------------------------------------

    def _attempt(self, value: dict[str, object], state: GarakState, number: int) -> Draft | None:
        if value.get("status") != 2:  # 1: generated but not yet scored; the scored copy follows
            return None
        hits, scored = _hits(value.get("detector_results"))
        if not hits:
            return None
        attempt_id = _required_text(value, "uuid", "attempt")
        probe = _required_text(value, "probe_classname", "attempt")
        if state.target is None:
            raise RecordError(
                "no target model",
                "no 'start_run setup' line naming plugins.target_type came before this attempt",
            )
        index = min(hits)
        system, turns, output = _exchange(value, index)
        detectors = "; ".join(f"{name} {score:.2f}" for name, score in hits[index])
        facts = [
            f"Detectors at or above {HIT_THRESHOLD}: {detectors} (output {index + 1} of {scored})",
            f"Outputs flagged: {len(hits)} of {scored} scored",
        ]
        state.first_time(attempt_id)
        return self._draft(
            state=state,
            target=state.target,
            generator=state.generator,
            attempt_id=attempt_id,
            probe=probe,
            goal=text_or_empty(value.get("goal")),
            system=system,
            turns=turns,
            output=output,
            facts=facts,
            claims={"success_rate": round(len(hits) / scored, 4), "attempts": scored},
            where=f"report.jsonl line {number}",
        )

    def _hit(self, value: dict[str, object], state: GarakState, number: int) -> Draft | None:
        attempt_id = _required_text(value, "attempt_id", "hit")
        run_id = value.get("run_id")
        if isinstance(run_id, str) and run_id and run_id != state.run_id:
            state.run_id = run_id
            state.scanner_version = ""
        probe = _required_text(value, "probe", "hit")
        generator = text_or_empty(value.get("generator"))
        target_type, _, target_name = generator.strip().partition(" ")
        target = _target(target_type, target_name.strip())
        if target is None:
            raise RecordError("no target model", "the hit has no generator")
        if not state.first_time(attempt_id):
            return None  # another detector or output of an attempt already taken from this file
        system, turns = _split_system(_turns_of(value.get("prompt")))
        score = score_value(value.get("score"))
        detector = text_or_empty(value.get("detector"))
        facts = [
            f"Detector: {detector} {score:.2f}" if score is not None else f"Detector: {detector}"
        ]
        return self._draft(
            state=state,
            target=target,
            generator=target_type,
            attempt_id=attempt_id,
            probe=probe,
            goal=text_or_empty(value.get("goal")),
            system=system,
            turns=turns,
            output=_message_text(value.get("output")),
            facts=facts,
            claims={},
            where=f"hitlog.jsonl line {number}",
        )

    @staticmethod
    def _draft(
        *,
        state: GarakState,
        target: tuple[str, str],
        generator: str,
        attempt_id: str,
        probe: str,
        goal: str,
        system: str | None,
        turns: Turns,
        output: str,
        facts: list[str],
        claims: dict[str, object],
        where: str,
    ) -> Draft:
        vendor, model = target
        module = probe.split(".", 1)[0]
        book = taxonomy()
        tags = state.probe_tags.get(probe)
        if tags is None:
            tags = book.garak_module_owasp_2023.get(module, ())
        labels = book.owasp_labels(tags, module)
        threat_type = book.garak_threat_type(module, labels)
        version = f" (garak {state.scanner_version})" if state.scanner_version else ""
        lines = [
            f"Imported from garak run {state.run_id}{version}, {where}.",
            f"Probe: {probe}",
            *facts,
            f"Target: {vendor} {model} (garak generator {generator})",
            f"Attempt: {attempt_id}",
        ]
        if labels:
            lines.append(
                "OWASP Top 10 for LLM Applications 2025: "
                + "; ".join(label.describe() for label in labels)
            )
        poc: dict[str, object] = {
            "turns": [{"role": role, "content": text} for role, text in turns]
        }
        if system is not None:
            poc["system"] = system
        if goal:
            poc["objective"] = goal[:MAX_OBJECTIVE_CHARS]
        title = f"garak {probe}: {goal}" if goal else f"garak {probe} against {model}"
        report = report_fields(
            title=title,
            description_lines=lines,
            vendor=vendor,
            model=model,
            poc=poc,
            observed_output=output,
        )
        report["claims"] = claims
        if threat_type is not None:
            report["threat_type"] = threat_type
        return Draft(report=report, finding_key=attempt_id, labels=_label_ids(labels))


def _label_ids(labels: tuple[OwaspLabel, ...]) -> tuple[str, ...]:
    return tuple(label.id_2025 for label in labels)


def _first_text(value: dict[str, object], *keys: str) -> str:
    for key in keys:
        if isinstance(found := value.get(key), str) and found.strip():
            return found.strip()
    return ""


def _required_text(value: dict[str, object], key: str, what: str) -> str:
    found = value.get(key)
    if not isinstance(found, str) or not found.strip():
        raise RecordError(f"{what} without {key}")
    return found.strip()


def _target(target_type: str, target_name: str) -> tuple[str, str] | None:
    """(vendor, model) from garak's generator type and name, e.g. ``openai.OpenAICompatible``."""
    if not target_type.strip():
        return None
    vendor = target_type.strip().split(".", 1)[0] or target_type.strip()
    return vendor, target_name.strip() or target_type.strip()


def _hits(results: object) -> tuple[dict[int, list[tuple[str, float]]], int]:
    """Per output index, the detectors that scored it at or above the threshold; and how many
    outputs got a numeric score at all."""
    if not isinstance(results, dict):
        return {}, 0
    hits: dict[int, list[tuple[str, float]]] = {}
    scored: set[int] = set()
    for detector, scores in results.items():
        if not isinstance(scores, list):
            continue
        for index, raw in enumerate(scores):
            score = score_value(raw)
            if score is None:
                continue
            scored.add(index)
            if score >= HIT_THRESHOLD:
                hits.setdefault(index, []).append((str(detector), score))
    return hits, len(scored)


def _message_text(message: object) -> str:
    """A garak Message (``{"text": ...}``) or, before garak 0.10, a plain string."""
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        return text_or_empty(message.get("text"))
    return ""


def _turns_of(prompt: object) -> Turns:
    """(role, text) pairs of a garak Conversation, or one user turn for an old string prompt."""
    if isinstance(prompt, str):
        return [("user", prompt)]
    if prompt is None:
        raise RecordError("no prompt")
    turns = prompt.get("turns") if isinstance(prompt, dict) else None
    if not isinstance(turns, list):
        raise RecordError(
            "prompt is neither text nor a conversation", f"a JSON {type_name(prompt)}"
        )
    result: Turns = []
    for turn in turns:
        if not isinstance(turn, dict):
            raise RecordError("malformed conversation turn", f"a JSON {type_name(turn)}")
        role = turn.get("role")
        result.append((role if isinstance(role, str) else "", _message_text(turn.get("content"))))
    return result


def _split_system(turns: Turns) -> tuple[str | None, Turns]:
    system = [text for role, text in turns if role == "system"]
    rest = [(role, text) for role, text in turns if role != "system"]
    return ("\n\n".join(system) if system else None), rest


def _exchange(value: dict[str, object], index: int) -> tuple[str | None, Turns, str]:
    """System prompt, turns before the flagged answer, and the answer, for output ``index``.

    Multi-turn probes keep one conversation per generation; its last assistant turn is the answer.
    Otherwise the prompt and ``outputs[index]``.
    """
    conversations = value.get("conversations")
    if isinstance(conversations, list) and index < len(conversations):
        turns = _turns_of(conversations[index]) if conversations[index] is not None else []
        if len(turns) > 1 and turns[-1][0] == "assistant":
            system, before = _split_system(turns[:-1])
            return system, before, turns[-1][1]
    system, turns = _split_system(_turns_of(value.get("prompt")))
    outputs = value.get("outputs")
    output = (
        _message_text(outputs[index]) if isinstance(outputs, list) and index < len(outputs) else ""
    )
    return system, turns, output
