"""CPU and memory from /proc: server process trees, PostgreSQL (backends that exited
included, through the postmaster's reaped-children counters) and Redis."""

from __future__ import annotations

from pathlib import Path

from bench.processes import TICKS, named_pids, stat, stat_fields


def cpu_seconds(pids: list[int]) -> float:
    return sum(found[1] for pid in pids if (found := stat(pid)) is not None)


def _reaped_children_seconds(pid: int) -> float:
    """CPU of a process's children that have exited (cutime + cstime)."""
    fields = stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICKS


def database_cpu_seconds(kind: str = "postgres") -> float:
    """All PostgreSQL processes, including backends that exited during the run (their
    CPU is added to the postmaster's reaped-children counters); or the Redis server."""
    if kind == "redis":
        return cpu_seconds(named_pids("redis-server"))
    pids = named_pids("postgres")
    parents = {pid: found[0] for pid in pids if (found := stat(pid)) is not None}
    postmasters = [pid for pid, parent in parents.items() if parent not in parents]
    return cpu_seconds(pids) + sum(_reaped_children_seconds(pid) for pid in postmasters)


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak
