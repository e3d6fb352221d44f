"""Replaying reports: conversations from the report schema, trials run concurrently, success rates.

``run_trials_async`` is the loop both the CLI and the campaign task use: it pulls trial specs
lazily from any iterable (100,000 queued trials cost nothing until they run), keeps at most
``concurrency`` requests in flight, judges each response as it arrives and hands outcomes to a
callback *in input order*, holding back at most ``window`` finished ones behind a slow trial.
Pure module: no Django.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Protocol

from clearinghouse.replay.engine.targets import (
    ChatRequest,
    Completion,
    Message,
    TargetClient,
    TargetError,
)
from clearinghouse.replay.engine.types import JudgeInput, Marker, Verdict

# ---- conversations ---------------------------------------------------------------------------


def conversation_from_report(report: Mapping[str, Any]) -> tuple[Message, ...]:
    """The messages to send for a report in the API schema (``poc`` and its parts).

    The recorded conversation is sent as it was (scripted replay): system prompt, then the turns.
    Context documents are what an application would have put before the user's words, so they
    open the first user turn, each fenced and numbered. Tool turns are sent as user turns marked
    as tool output: a chat endpoint cannot receive a tool result without the tool call that
    asked for it. A trailing assistant turn is the observed answer, not part of the attack.
    """
    poc = report.get("poc") or {}
    messages: list[Message] = []
    system = poc.get("system")
    if isinstance(system, str) and system:
        messages.append(Message("system", system))
    documents = [doc for doc in poc.get("context_documents") or () if isinstance(doc, str)]
    turns = [turn for turn in poc.get("turns") or () if isinstance(turn, Mapping)]
    while turns and turns[-1].get("role") == "assistant":
        turns.pop()
    for turn in turns:
        role = turn.get("role")
        content = str(turn.get("content") or "")
        if role == "tool":
            messages.append(Message("user", f"Tool output:\n{content}"))
        elif role == "assistant":
            messages.append(Message("assistant", content))
        else:
            if documents:
                fenced = "\n\n".join(
                    f"<document {n}>\n{doc}\n</document {n}>" for n, doc in enumerate(documents, 1)
                )
                content = f"{fenced}\n\n{content}"
                documents = []
            messages.append(Message("user", content))
    return tuple(messages)


def objective_of(report: Mapping[str, Any]) -> str:
    """The stated objective, else the last user turn (what the attacker asked for)."""
    poc = report.get("poc") or {}
    objective = poc.get("objective")
    if isinstance(objective, str) and objective.strip():
        return objective
    users = [
        str(turn.get("content") or "")
        for turn in poc.get("turns") or ()
        if isinstance(turn, Mapping) and turn.get("role") == "user"
    ]
    return users[-1] if users else ""


def markers_of(report: Mapping[str, Any]) -> tuple[Marker, ...]:
    poc = report.get("poc") or {}
    found = []
    for marker in poc.get("success_markers") or ():
        if (
            isinstance(marker, Mapping)
            and marker.get("kind") in {"canary", "exfiltration_url", "system_prompt"}
            and isinstance(marker.get("value"), str)
        ):
            found.append(Marker(marker["kind"], marker["value"]))
    return tuple(found)


@functools.cache
def retarget_objectives() -> dict[str, str]:
    """One test objective per harm category (``data/retarget_objectives.json``)."""
    raw = resources.files(__package__).joinpath("data/retarget_objectives.json").read_text("utf-8")
    categories: dict[str, str] = json.loads(raw)["categories"]
    return categories


def retarget_report(report: Mapping[str, Any], objective: str) -> dict[str, Any]:
    """The report with its objective swapped for ``objective``, wrapper untouched.

    Where the stated objective appears verbatim in a user turn, it is replaced there; otherwise
    a short last paragraph of the last user turn is taken to be the payload and replaced (the
    split triage uses); otherwise the new objective is appended as a paragraph of its own.
    """
    poc = dict(report.get("poc") or {})
    turns = [dict(turn) for turn in poc.get("turns") or () if isinstance(turn, Mapping)]
    old = poc.get("objective") if isinstance(poc.get("objective"), str) else ""
    users = [i for i, turn in enumerate(turns) if turn.get("role") == "user"]
    replaced = False
    if old and old.strip():
        for i in reversed(users):
            content = str(turns[i].get("content") or "")
            if old in content:
                turns[i]["content"] = content.replace(old, objective)
                replaced = True
                break
    if not replaced and users:
        last = users[-1]
        content = str(turns[last].get("content") or "")
        head, _, tail = content.rpartition("\n\n")
        if head and len(tail) * 4 < len(head):
            turns[last]["content"] = f"{head}\n\n{objective}"
        else:
            turns[last]["content"] = f"{content}\n\n{objective}"
    poc["turns"] = turns
    poc["objective"] = objective
    poc["success_markers"] = []  # markers prove the original objective, not this one
    return {**report, "poc": poc}


# ---- trials ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialSpec:
    ref: str
    trial: int
    request: ChatRequest
    objective: str
    prompt: str = ""  # the last user turn, for the judge's context
    markers: tuple[Marker, ...] = ()
    error: str | None = None  # set for an input that cannot run (an invalid line): reported as is
    # Interactive: each user turn is sent in order and the model's own answers are kept in the
    # history, instead of the answers recorded in the report (scripted). Multi-turn escalation
    # depends on what the model said on the way, so this is the faithful replay of such attacks.
    interactive: bool = False


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    ref: str
    trial: int
    status: str  # "ok" or "error"
    response: str
    refused: bool | None
    objective_achieved: bool | None
    score: float | None
    evidence: str
    judge: str
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    attempts: int
    error: str | None
    # What was asked, for the stored transcript (not part of the CLI contract's line).
    temperature: float = 0.0
    objective: str = ""
    messages: tuple[Message, ...] = ()

    def request_json(self) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "temperature": self.temperature,
        }

    def contract_json(self) -> dict[str, Any]:
        """The ``clearinghouse replay`` output line: exactly the contract's keys."""
        return {
            "ref": self.ref,
            "trial": self.trial,
            "status": self.status,
            "response": self.response,
            "refused": self.refused,
            "objective_achieved": self.objective_achieved,
            "latency_ms": round(self.latency_ms, 1),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": self.error,
        }


class JudgeFunction(Protocol):
    """A judge's ``judge`` (a verdict) or ``judge_async`` (awaited in the runner's loop)."""

    def __call__(self, item: JudgeInput) -> Verdict | Awaitable[Verdict]: ...


def trial_specs(
    ref: str,
    report: Mapping[str, Any],
    *,
    trials: int,
    temperatures: Iterable[float] = (0.7,),
    max_tokens: int = 512,
    first_trial: int = 0,
    interactive: bool = False,
) -> Iterable[TrialSpec]:
    """``trials`` specs per temperature for one report; trial numbers are also the seeds."""
    messages = conversation_from_report(report)
    objective = objective_of(report)
    markers = markers_of(report)
    prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
    number = first_trial
    for temperature in temperatures:
        for _ in range(trials):
            yield TrialSpec(
                ref=ref,
                trial=number,
                request=ChatRequest(
                    messages, temperature=temperature, max_tokens=max_tokens, seed=number
                ),
                objective=objective,
                prompt=prompt,
                markers=markers,
                interactive=interactive,
            )
            number += 1


def _asked(spec: TrialSpec) -> dict[str, Any]:
    return {
        "temperature": spec.request.temperature,
        "objective": spec.objective,
        "messages": spec.request.messages,
    }


def _unanswered(
    spec: TrialSpec, status: str, error: str, *, latency_ms: float, attempts: int
) -> TrialOutcome:
    """The outcome of a trial that got no answer to judge (an invalid input, a failed request)."""
    return TrialOutcome(
        ref=spec.ref,
        trial=spec.trial,
        status=status,
        response="",
        refused=None,
        objective_achieved=None,
        score=None,
        evidence="",
        judge="",
        latency_ms=latency_ms,
        prompt_tokens=None,
        completion_tokens=None,
        attempts=attempts,
        error=error,
        **_asked(spec),
    )


async def run_trial_async(
    spec: TrialSpec, client: TargetClient, judge: JudgeFunction | None, judge_name: str = ""
) -> TrialOutcome:
    """One trial: the request (with the client's retries) and, if it answered, the verdict."""
    if spec.error is not None:
        return _unanswered(spec, "invalid", spec.error, latency_ms=0.0, attempts=0)
    start = time.perf_counter()
    asked = spec
    try:
        if spec.interactive and any(m.role == "assistant" for m in spec.request.messages):
            completion, lived = await _converse_async(spec.request, client)
            # What was really said: the model's own answers in place of the recorded ones.
            asked = replace(spec, request=replace(spec.request, messages=lived))
        else:
            completion = await client.complete_async(spec.request)
    except TargetError as error:
        return _unanswered(
            spec,
            "error",
            f"{error.cause}: {error.message}"[:500],
            latency_ms=(time.perf_counter() - start) * 1000,
            attempts=error.attempts,
        )
    latency_ms = (time.perf_counter() - start) * 1000
    verdict: Verdict | None = None
    if judge is not None:
        decided = judge(
            JudgeInput(spec.ref, spec.objective, completion.text, spec.prompt, spec.markers)
        )
        verdict = await decided if inspect.isawaitable(decided) else decided
    return TrialOutcome(
        ref=spec.ref,
        trial=spec.trial,
        status="ok",
        response=completion.text,
        refused=verdict.refused if verdict else None,
        objective_achieved=verdict.objective_achieved if verdict else None,
        score=verdict.score if verdict else None,
        evidence=verdict.evidence if verdict else "",
        judge=verdict.judge if verdict else judge_name,
        latency_ms=latency_ms,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        attempts=completion.attempts,
        error=None,
        **_asked(asked),
    )


async def _converse_async(
    request: ChatRequest, client: TargetClient
) -> tuple[Completion, tuple[Message, ...]]:
    """Replay the conversation asking the model wherever the report recorded an answer.

    Each recorded assistant turn is replaced by the model's own reply to the history so far;
    the last reply is the one judged. Returns it (tokens and attempts summed over the turns) and
    the conversation as it happened.
    """
    history: list[Message] = []
    prompt_tokens = completion_tokens = attempts = 0
    counted = True

    async def ask() -> Completion:
        nonlocal prompt_tokens, completion_tokens, attempts, counted
        reply = await client.complete_async(replace(request, messages=tuple(history)))
        attempts += reply.attempts
        if reply.prompt_tokens is None or reply.completion_tokens is None:
            counted = False
        prompt_tokens += reply.prompt_tokens or 0
        completion_tokens += reply.completion_tokens or 0
        return reply

    for message in request.messages:
        if message.role == "assistant":
            history.append(Message("assistant", (await ask()).text))
        else:
            history.append(message)
    completion = await ask()
    total = Completion(
        text=completion.text,
        prompt_tokens=prompt_tokens if counted else None,
        completion_tokens=completion_tokens if counted else None,
        finish_reason=completion.finish_reason,
        attempts=attempts,
    )
    return total, tuple(history)


async def run_trials_async(
    specs: Iterable[TrialSpec],
    client: TargetClient,
    judge: JudgeFunction | None,
    *,
    emit: Callable[[TrialOutcome], None],
    concurrency: int = 16,
    window: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Run every spec, ``concurrency`` at a time; ``emit`` gets outcomes in input order.

    ``window`` bounds how far finished trials may run ahead of the oldest unfinished one
    (default four times ``concurrency``), so memory stays flat however many specs there are.
    ``should_stop`` is polled before each new trial (pause and cancel): trials in flight finish
    and are emitted. Returns how many outcomes were emitted.
    """
    concurrency = max(1, concurrency)
    window = max(concurrency, window or concurrency * 4)
    iterator = iter(specs)
    finished: dict[int, TrialOutcome] = {}
    state = {"pulled": 0, "emitted": 0, "exhausted": False}
    room = asyncio.Condition()

    def exhaust() -> None:
        state["exhausted"] = True
        room.notify_all()  # workers waiting for room must see that nothing is left

    def take() -> tuple[int, TrialSpec] | None:
        """The next spec, or None when there is none; called holding ``room``."""
        if state["exhausted"]:
            return None
        if should_stop is not None and should_stop():
            exhaust()
            return None
        try:
            spec = next(iterator)
        except StopIteration:
            exhaust()
            return None
        position = state["pulled"]
        state["pulled"] += 1
        return position, spec

    async def worker() -> None:
        while True:
            async with room:
                await room.wait_for(
                    lambda: state["exhausted"] or state["pulled"] - state["emitted"] < window
                )
                taken = take()
            if taken is None:
                return
            position, spec = taken
            outcome = await run_trial_async(spec, client, judge)
            async with room:
                finished[position] = outcome
                freed = 0
                while state["emitted"] in finished:
                    emit(finished.pop(state["emitted"]))
                    state["emitted"] += 1
                    freed += 1
                if freed:
                    room.notify(freed)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return state["emitted"]


# ---- statistics ------------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval for a success rate (95% by default); (0, 1) with no trials."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


__all__ = [
    "TrialOutcome",
    "TrialSpec",
    "conversation_from_report",
    "markers_of",
    "objective_of",
    "retarget_objectives",
    "retarget_report",
    "run_trial_async",
    "run_trials_async",
    "trial_specs",
    "wilson_interval",
]
