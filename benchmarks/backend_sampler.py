"""Where a benchmarked phase's time goes on the database server: CPU of the server's processes, the machine's
CPU and iowait, parallel query workers, wait events and WAL, sampled while the phase runs.

    with BackendSampler(url) as sampler:
        run_the_phase()
    print(sampler.summary())

Same host only: the server's processes are read from /proc (the postmaster is the parent of the sampler's own
backend). The CPU of the postmaster's tree counts every process of that server, exited ones included (the
postmaster's cutime/cstime, as it reaps them): on a server shared with other databases their work is counted
too, so run it on a dedicated server (the benchmarks' embedded one). The wait events are counted per sample
of each active backend of the benchmark's database (excluding the sampler).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psycopg

from hyperdash_pipeline.connections import connect

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL_S = 0.25
APPLICATION = "hyperdash-bench-sampler"


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 onwards), None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _tree_cpu_seconds(postmaster: int) -> float:
    """CPU seconds (user + system) of the postmaster, its reaped children and its live children."""
    own = _stat_fields(postmaster)
    if own is None:
        raise RuntimeError(f"postmaster {postmaster} not readable in /proc: run the sampler on the server's host")
    # Fields from 3: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def _machine_cpu() -> tuple[float, float, float]:
    """(busy, iowait, total) jiffies of the whole machine since boot (/proc/stat's cpu line)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq + steal
    return float(busy), float(iowait), float(busy + idle + iowait)


@dataclass
class Summary:
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    machine_busy_cores: float
    machine_iowait_cores: float
    wal_mb: float
    samples: int
    parallel_worker_samples: int
    max_parallel_workers_seen: int
    max_active_sessions: int
    waits: Counter[str] = field(default_factory=Counter)
    cpu_by_type: dict[str, float] = field(default_factory=dict)  # CPU seconds of the live processes, by type

    def lines(self) -> list[str]:
        cores = os.cpu_count() or 1
        top = ", ".join(f"{name} {count / max(1, self.samples):.2f}" for name, count in self.waits.most_common(6))
        return [
            f"wall {self.wall_s:.2f} s; server CPU {self.server_cpu_s:.2f} s ({self.server_cpu_s / self.wall_s:.2f} "
            f"cores of {cores}), client CPU {self.client_cpu_s:.2f} s; machine busy {self.machine_busy_cores:.2f} "
            f"cores, iowait {self.machine_iowait_cores:.2f} cores; WAL {self.wal_mb:.0f} MB",
            f"parallel query workers present in {self.parallel_worker_samples} of {self.samples} samples "
            f"(at most {self.max_parallel_workers_seen}); at most {self.max_active_sessions} active sessions",
            f"active backends by wait event, per sample: {top or 'none'}",
            "server CPU by process type (seen alive): "
            + (
                ", ".join(
                    f"{kind} {cpu:.1f} s"
                    for kind, cpu in sorted(self.cpu_by_type.items(), key=lambda item: -item[1])
                    if cpu >= 0.05
                )
                or "none"
            ),
        ]


class BackendSampler:
    """Samples the server behind `url` every INTERVAL_S in a thread of its own, on its own connection."""

    def __init__(self, url: str) -> None:
        self._conn: psycopg.Connection = connect(url, "bi", APPLICATION, autocommit=True)
        row = self._conn.execute("SELECT pg_backend_pid(), current_database()").fetchone()
        assert row is not None
        own_pid, self._database = int(row[0]), str(row[1])
        fields = _stat_fields(own_pid)
        if fields is None:
            raise RuntimeError("the sampler's backend is not on this host: BackendSampler reads /proc")
        self._postmaster = int(fields[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="hyperdash-sampler", daemon=True)
        self._waits: Counter[str] = Counter()
        self._cpu_by_type: dict[str, float] = {}
        self._last_cpu: dict[int, float] = {}
        self._samples = self._worker_samples = self._max_workers = self._max_active = 0
        self._start: tuple[float, float, float, tuple[float, float, float], int] | None = None
        self._result: Summary | None = None

    def _lsn(self) -> int:
        row = self._conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        assert row is not None
        return int(row[0])

    def _process_cpu(self) -> None:
        """Add each live server process's CPU since it was last seen (all of it when first seen after the start)."""
        for pid, kind in self._conn.execute("SELECT pid, backend_type FROM pg_stat_activity").fetchall():
            fields = _stat_fields(int(pid))
            if fields is None:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            used = cpu - self._last_cpu.get(int(pid), 0.0)
            self._cpu_by_type[str(kind)] = self._cpu_by_type.get(str(kind), 0.0) + used
            self._last_cpu[int(pid)] = cpu

    def __enter__(self) -> BackendSampler:
        self._process_cpu()
        self._cpu_by_type.clear()  # what the processes alive at the start had used before it does not count
        self._start = (
            time.perf_counter(),
            _tree_cpu_seconds(self._postmaster),
            time.process_time(),
            _machine_cpu(),
            self._lsn(),
        )
        self._thread.start()
        return self

    def _sample_loop(self) -> None:
        query = (
            "SELECT backend_type, state, coalesce(wait_event_type || ':' || wait_event, 'CPU') "
            "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        while not self._stop.wait(INTERVAL_S):
            rows = self._conn.execute(query, (self._database,)).fetchall()
            workers = sum(1 for backend_type, _, _ in rows if backend_type == "parallel worker")
            active = [wait for kind, state, wait in rows if state == "active" or kind != "client backend"]
            self._samples += 1
            self._worker_samples += 1 if workers else 0
            self._max_workers = max(self._max_workers, workers)
            self._max_active = max(self._max_active, len(active))
            self._waits.update(active)
            self._process_cpu()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        assert self._start is not None
        wall0, cpu0, client0, (busy0, iowait0, total0), lsn0 = self._start
        busy1, iowait1, total1 = _machine_cpu()
        cores = os.cpu_count() or 1
        span = max(1.0, total1 - total0)
        self._result = Summary(
            wall_s=time.perf_counter() - wall0,
            server_cpu_s=_tree_cpu_seconds(self._postmaster) - cpu0,
            client_cpu_s=time.process_time() - client0,
            machine_busy_cores=cores * (busy1 - busy0) / span,
            machine_iowait_cores=cores * (iowait1 - iowait0) / span,
            wal_mb=(self._lsn() - lsn0) / 2**20,
            samples=self._samples,
            parallel_worker_samples=self._worker_samples,
            max_parallel_workers_seen=self._max_workers,
            max_active_sessions=self._max_active,
            waits=self._waits,
            cpu_by_type=self._cpu_by_type,
        )
        self._conn.close()

    def summary(self) -> Summary:
        if self._result is None:
            raise RuntimeError("BackendSampler.summary() is read after its `with` block")
        return self._result
