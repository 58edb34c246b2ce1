"""Where a refresh's CPU goes, against the trivial endpoint on the same server.

    .venv/bin/python bench/profile.py                 # 20 s each, 16 connections
    .venv/bin/python bench/profile.py --seconds 5 --top 8

One `keyturn serve` (one worker, PostgreSQL) answers refresh chains, then
`GET /healthz`, each under wrk. Each load runs twice: once plainly, for the server
process's CPU per request (from /proc), then again while py-spy samples the process,
for where that CPU goes. The script splits it by component (the package or keyturn
module of the innermost Python frame), refresh against the trivial endpoint with the
difference, and by keyturn function (the samples whose stack passes through it).

py-spy sees Python frames only: time in a C extension (asyncpg's protocol, httptools,
hashlib) is counted against the Python function that called it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: bench/, keyturn/ and testkit/ from the root

from bench.common import PASSWORD, REDIRECT  # noqa: E402
from bench.cpu import cpu_seconds  # noqa: E402
from bench.databases import fresh_database  # noqa: E402
from bench.load import wrk  # noqa: E402
from bench.processes import tree  # noqa: E402
from bench.seed import keyturn_tokens  # noqa: E402
from bench.systems.keyturn import keyturn_app, keyturn_server  # noqa: E402

PY_SPY = Path(sys.executable).with_name("py-spy")
SAMPLE_RATE = 250  # per second; py-spy's default of 100 leaves small parts in the noise
ENTRY_SHARE = 0.9  # a keyturn function in more samples than this is an entry point
# One line of py-spy's raw output: frames outermost first, "function (file:line)", ";"
# between them, then the number of samples with that stack.
PROCESS = re.compile(r'^process \d+:".*"$')
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str


@dataclass
class Profile:
    """Samples of one load: by the component of their innermost frame, and by the
    keyturn functions on their stack."""

    samples: int
    components: Counter[str]
    functions: Counter[str]

    def share(self, counts: Counter[str], key: str) -> float:
        return counts[key] / self.samples if self.samples else 0.0


def parse_stack(line: str) -> tuple[list[Frame], int] | None:
    """A raw line's Python frames (outermost first) and its sample count; None if the
    line is malformed. The "process PID:command" pseudo-frame that --subprocesses puts
    first is dropped; a sample with no Python frame (native code only) has none."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for part in stack.split(";"):
        found = FRAME.match(part)
        if found is not None:
            frames.append(Frame(found["function"], found["file"]))
        elif not PROCESS.match(part):
            frames.append(Frame(part, ""))
    return frames, int(count)


def component(file: str) -> str:
    """The package a file belongs to: a third-party package, a standard-library module
    or package, or a keyturn module (keyturn is the product, so it is split finer)."""
    path = file.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/keyturn/" in path:
        module = path.rsplit("/keyturn/", 1)[1].removesuffix(".py").replace("/", ".")
        return "keyturn." + module.removesuffix(".__init__")
    found = re.search(r"/python3\.\d+/(.+)$", path)
    if found:
        return "stdlib " + found[1].split("/", 1)[0].removesuffix(".py")
    return path or "(unknown)"


def bucket(frame: Frame) -> str:
    """The component a sample is charged to, from its innermost Python frame. Two are
    named for what py-spy cannot see below them: the event loop's own native code
    (uvloop's I/O polling and callback dispatch run under asyncio's Runner.run), and
    the methods dataclasses generate (compiled from a string, so they have no file)."""
    if frame.function == "Runner.run" and frame.file.endswith("asyncio/runners.py"):
        return "event loop (native)"
    if frame.file == "<string>" and frame.function.startswith("__create_fn__"):
        return "dataclass methods"
    return component(frame.file)


def keyturn_function(frame: Frame) -> str | None:
    module = component(frame.file)
    return f"{module}.{frame.function}" if module.startswith("keyturn.") else None


def summarise(lines: Iterable[str]) -> Profile:
    components: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    samples = 0
    for line in lines:
        parsed = parse_stack(line)
        if parsed is None:
            continue
        frames, count = parsed
        samples += count
        components[bucket(frames[-1]) if frames else "(no Python frame)"] += count
        # Inclusive: a function counts once per sample however often it recurs.
        for name in {name for frame in frames if (name := keyturn_function(frame))}:
            functions[name] += count
    return Profile(samples, components, functions)


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the process tree of `pid` for `seconds`, writing raw stacks."""
    return subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(SAMPLE_RATE),
            "--format",
            "raw",
            "--full-filenames",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@dataclass
class Measured:
    name: str
    requests_per_s: float
    cpu_ms: float  # the server's CPU per request, from /proc, with no profiler attached
    profile: Profile


def cpu_per_request(pid: int, run: Callable[[], dict[str, float]]) -> tuple[float, float]:
    """(requests/s, the server's CPU ms per request) of one load."""
    before = cpu_seconds(tree(pid))
    result = run()
    used = cpu_seconds(tree(pid)) - before
    return result["rps"], used * 1000 / max(1.0, result["ok"])


def profiled(
    name: str, pid: int, seconds: float, run: Callable[[], dict[str, float]], keep: Path
) -> Measured:
    """One load measured plainly, then the same load again under py-spy (which pauses
    the process at each sample, so it slows it: its CPU figures are not used). The raw
    stacks stay in `keep`, for a flame graph."""
    rate, cpu_ms = cpu_per_request(pid, run)
    out = keep / f"{name.replace(' ', '-')}.txt"
    spy = record(pid, seconds, out)
    run()
    _, errors = spy.communicate(timeout=seconds + 30)
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
    return Measured(name, rate, cpu_ms, summarise(out.read_text().splitlines()))


def cost(m: Measured, counts: Counter[str], key: str) -> float:
    """CPU ms per request spent in `key`: its share of the samples times the CPU per request."""
    return m.cpu_ms * m.profile.share(counts, key)


def component_table(refresh: Measured, trivial: Measured, top: int) -> str:
    """The components a refresh spends more on than the trivial endpoint, largest first."""
    keys = set(refresh.profile.components) | set(trivial.profile.components)
    extra = {
        key: cost(refresh, refresh.profile.components, key)
        - cost(trivial, trivial.profile.components, key)
        for key in keys
    }
    lines = ["| component | refresh | trivial endpoint | difference |", "| --- | --- | --- | --- |"]
    for key in sorted(keys, key=lambda k: -extra[k])[:top]:
        lines.append(
            f"| {key} | {cost(refresh, refresh.profile.components, key):.3f}"
            f" | {cost(trivial, trivial.profile.components, key):.3f} | {extra[key]:+.3f} |"
        )
    return "\n".join(lines)


def function_table(refresh: Measured, top: int) -> str:
    """keyturn functions by the refresh's CPU inside them (callees included), leaving
    out the entry points that nearly every sample passes through."""
    functions = refresh.profile.functions
    lines = ["| keyturn function | refresh, ms | share |", "| --- | --- | --- |"]
    shown = [
        (key, count)
        for key, count in functions.most_common()
        if refresh.profile.share(functions, key) < ENTRY_SHARE
    ]
    for key, _ in shown[:top]:
        share = refresh.profile.share(functions, key)
        lines.append(f"| {key} | {cost(refresh, functions, key):.3f} | {share:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--raw", type=Path, help="keep py-spy's raw stacks here (default: a new temporary folder)"
    )
    args = parser.parse_args()
    if not PY_SPY.exists():
        sys.exit(f"{PY_SPY} is missing: install the dev extra (pip install -e '.[dev]')")
    keep = args.raw or Path(tempfile.mkdtemp(prefix="kt-profile-"))
    keep.mkdir(parents=True, exist_ok=True)
    conns, seconds = args.connections, args.seconds
    with fresh_database() as database:
        data = Path(tempfile.mkdtemp(prefix="kt-profile-"))
        auth, email = keyturn_app(database, data)
        with keyturn_server(database, data) as (proc, base):
            pool = asyncio.run(keyturn_tokens(base, *auth, REDIRECT, email, PASSWORD, 3000))
            wrk(base, pool, auth, conns, 2)  # warm up: prepared statements, caches
            refresh = profiled(
                "refresh", proc.pid, seconds, lambda: wrk(base, pool, auth, conns, seconds), keep
            )
            trivial = profiled(
                "trivial endpoint",
                proc.pid,
                seconds,
                lambda: wrk(base, [], auth, conns, seconds, "trivial"),
                keep,
            )
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"# profile: {conns} connections, {seconds:.0f} s a load (twice: plain, then under"
        f" py-spy at {SAMPLE_RATE}/s), {os.cpu_count()} cores"
    )
    for m in (refresh, trivial):
        print(
            f"{m.name}: {m.requests_per_s:,.0f} requests/s, server CPU {m.cpu_ms:.3f} ms a"
            f" request; {m.profile.samples:,} samples"
        )
    ratio = refresh.cpu_ms / max(1e-9, trivial.cpu_ms)
    print(f"refresh / trivial endpoint: {ratio:.1f}x; raw stacks in {keep}\n")
    print("Server CPU ms a request, by the component running when sampled:\n")
    print(component_table(refresh, trivial, args.top) + "\n")
    print("The refresh's CPU ms inside keyturn functions (callees included):\n")
    print(function_table(refresh, args.top))


if __name__ == "__main__":
    main()
