"""``clearinghouse replay``, ``judge`` and ``simulate-target``: the replay stage without a database.

    clearinghouse replay --base-url URL --model NAME [--provider openai|anthropic]
        [--api-key-env VAR] --input IN.jsonl --output OUT.jsonl [--concurrency N] [--trials K]
    clearinghouse judge --input IN.jsonl --output OUT.jsonl [--judge offline|llm]
    clearinghouse simulate-target --port N [--latency-ms 200]

Both file commands stream: one line is read, run and written at a time (with ``concurrency``
requests in flight), so a file of any size runs in constant memory; output lines keep the input
order. Errors are output lines, never a crash: an invalid input line, an endpoint that fails.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from clearinghouse.intake.schema import SubmissionError, parse_json_bytes, parse_submission
from clearinghouse.replay.engine.campaign import (
    TrialOutcome,
    TrialSpec,
    run_trials_async,
    trial_specs,
)
from clearinghouse.replay.engine.targets import (
    ChatRequest,
    TargetClient,
    TargetConfig,
    TargetConfigError,
)
from clearinghouse.replay.engine.types import JudgeInput, Verdict

err = Console(stderr=True)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") if str(path) != "-" else sys.stdin.buffer as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, raw


def _count_lines(path: Path) -> int | None:
    if str(path) == "-":
        return None
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


def _open_output(path: Path, stack: ExitStack) -> IO[str]:
    if str(path) == "-":
        return sys.stdout
    return stack.enter_context(path.open("w", encoding="utf-8"))


def _progress(label: str, total: int | None) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _invalid_spec(ref: str, number: int, reason: str) -> TrialSpec:
    return TrialSpec(
        ref=ref, trial=0, request=ChatRequest(()), objective="", error=f"line {number}: {reason}"
    )


def _replay_specs(
    path: Path, trials: int, temperatures: list[float], max_tokens: int, interactive: bool = False
) -> Iterator[TrialSpec]:
    for number, raw in _lines(path):
        ref = str(number)
        try:
            data = parse_json_bytes(raw)
            if not isinstance(data, dict):
                raise SubmissionError(None, "line must be a JSON object", code="invalid_type")
            given = data.pop("ref", None)
            if given is not None:
                ref = str(given)
            parse_submission(data)  # the API's schema decides what a report is
        except SubmissionError as error:
            yield _invalid_spec(ref, number, f"{error.field or 'line'}: {error.reason}")
            continue
        yield from trial_specs(
            ref,
            data,
            trials=trials,
            temperatures=temperatures,
            max_tokens=max_tokens,
            interactive=interactive,
        )


def _judge_class(name: str) -> Any:
    from clearinghouse.replay.engine.judges import JUDGES

    try:
        return JUDGES[name]
    except KeyError:
        known = ", ".join(sorted(JUDGES))
        raise typer.BadParameter(f"unknown judge {name!r} (known: {known})") from None


def _judge_function(name: str, options: dict[str, Any]) -> Any:
    judge = _judge_class(name)(**options)
    # A judge that calls a model is awaited in the replay loop rather than blocking it.
    return getattr(judge, "judge_async", judge.judge)


def replay_command(
    base_url: Annotated[str, typer.Option(help="Endpoint base URL, e.g. http://127.0.0.1:8900/v1")],
    model: Annotated[str, typer.Option(help="Model name to request.")],
    input_path: Annotated[
        Path, typer.Option("--input", help="Reports with a ref, one per line; - for stdin.")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="One line per trial; - for stdout.")
    ],
    provider: Annotated[str, typer.Option(help="Wire format: openai or anthropic.")] = "openai",
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=4096, help="Requests in flight.")] = 16,
    trials: Annotated[
        int, typer.Option(min=1, max=10_000, help="Trials per report and temperature.")
    ] = 1,
    temperature: Annotated[
        list[float] | None, typer.Option(help="Temperature; repeat for several.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=100_000)] = 512,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 60.0,
    retries: Annotated[int, typer.Option(min=0, max=20, help="Retries per request.")] = 3,
    rpm: Annotated[float | None, typer.Option(help="Requests per minute allowed.")] = None,
    tpm: Annotated[float | None, typer.Option(help="Tokens per minute allowed.")] = None,
    judge: Annotated[
        str, typer.Option(help="Judge for each response: offline, llm, canary, or none.")
    ] = "offline",
    interactive: Annotated[
        bool,
        typer.Option(
            help="Ask the model wherever the report recorded an answer instead of sending the "
            "recorded answers (multi-turn attacks; one request per recorded answer, plus one)."
        ),
    ] = False,
) -> None:
    """Replay every report against one model endpoint and judge each answer (no database)."""
    temperatures = temperature or [0.7]
    try:
        config = TargetConfig(
            base_url=base_url,
            model=model,
            provider=provider,
            api_key_env=api_key_env,
            timeout_seconds=timeout,
            max_retries=retries,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            max_concurrency=concurrency,
        )
        judge_function = None if judge == "none" else _judge_function(judge, {})
        lines = _count_lines(input_path)
        total = lines * trials * len(temperatures) if lines is not None else None
        counts = asyncio.run(
            _replay_async(
                config,
                _replay_specs(input_path, trials, temperatures, max_tokens, interactive),
                judge_function,
                output_path,
                concurrency,
                total,
            )
        )
    except TargetConfigError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    err.print(f"replayed: {summary or 'nothing'}")


async def _replay_async(
    config: TargetConfig,
    specs: Iterator[TrialSpec],
    judge: Any,
    output_path: Path,
    concurrency: int,
    total: int | None,
) -> dict[str, int]:
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        out = _open_output(output_path, stack)
        progress = stack.enter_context(_progress("replay", total))
        bar = progress.add_task("replay", total=total)

        def emit(outcome: TrialOutcome) -> None:
            out.write(json.dumps(outcome.contract_json(), ensure_ascii=False) + "\n")
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            progress.advance(bar)

        async with TargetClient(config) as client:
            await run_trials_async(specs, client, judge, emit=emit, concurrency=concurrency)
    return counts


def judge_command(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input", help='Lines {"ref","objective","response","prompt"?}; - for stdin.'
        ),
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="One verdict per line; - for stdout.")
    ],
    judge: Annotated[str, typer.Option(help="offline (default, no network) or llm.")] = "offline",
    base_url: Annotated[str | None, typer.Option(help="LLM judge: endpoint base URL.")] = None,
    model: Annotated[str | None, typer.Option(help="LLM judge: model name.")] = None,
    provider: Annotated[str, typer.Option(help="LLM judge: openai or anthropic.")] = "openai",
    api_key_env: Annotated[
        str | None, typer.Option(help="LLM judge: variable holding the key.")
    ] = None,
) -> None:
    """Judge responses: did the model refuse, was the objective achieved (one line per input)."""
    options: dict[str, Any] = {}
    if judge == "llm":
        if not base_url or not model:
            raise typer.BadParameter("--judge llm needs --base-url and --model")
        options["config"] = TargetConfig(
            base_url=base_url, model=model, provider=provider, api_key_env=api_key_env
        )
    try:
        judge_class = _judge_class(judge)
        instance = judge_class(**options)
    except TargetConfigError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    total = _count_lines(input_path)
    written = errors = 0
    with ExitStack() as stack:
        out = _open_output(output_path, stack)
        progress = stack.enter_context(_progress("judge", total))
        bar = progress.add_task("judge", total=total)
        # Chunks go to judge_many together: the llm judge sends a chunk's requests concurrently.
        for chunk in _chunks(_lines(input_path), JUDGE_CHUNK):
            parsed = [_judge_input(number, raw) for number, raw in chunk]
            items = [item for item in parsed if isinstance(item, JudgeInput)]
            verdicts = iter(instance.judge_many(items))
            for item in parsed:
                line = item if isinstance(item, dict) else _verdict_line(item, next(verdicts))
                errors += "error" in line
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
                progress.advance(bar)
    err.print(f"judged: {written - errors} lines, {errors} errors")


JUDGE_CHUNK = 64


def _chunks(lines: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _judge_input(number: int, raw: bytes) -> JudgeInput | dict[str, Any]:
    """The line as a JudgeInput, or its error line (``{"ref", "error"}``)."""
    ref: str = str(number)
    try:
        data = parse_json_bytes(raw)
    except SubmissionError as error:
        return {"ref": ref, "error": f"line {number}: {error.reason}"}
    if not isinstance(data, dict):
        return {"ref": ref, "error": f"line {number}: must be a JSON object"}
    if data.get("ref") is not None:
        ref = str(data["ref"])
    for name in ("objective", "response"):
        if not isinstance(data.get(name), str):
            return {"ref": ref, "error": f"line {number}: {name}: a string is required"}
    prompt = data.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        return {"ref": ref, "error": f"line {number}: prompt: must be a string"}
    return JudgeInput(ref, data["objective"], data["response"], prompt or "")


def _verdict_line(item: JudgeInput, verdict: Verdict) -> dict[str, Any]:
    return {
        "ref": item.ref,
        "refused": verdict.refused,
        "objective_achieved": verdict.objective_achieved,
        "score": round(verdict.score, 4),
        "judge": verdict.judge,
        "evidence": verdict.evidence,
    }


def simulate_target_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8900,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option(min=0, help="Fixed delay before each answer.")] = 0.0,
    jitter_ms: Annotated[
        float, typer.Option(min=0, help="Extra delay, up to this, per request.")
    ] = 0.0,
) -> None:
    """Serve a SIMULATED OpenAI-compatible model endpoint (deterministic canned answers)."""
    from clearinghouse.replay.engine.simulator import serve

    serve(host, port, latency_ms=latency_ms, jitter_ms=jitter_ms)
