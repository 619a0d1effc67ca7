"""Whole-process timings of the `hyperdash` CLI: what a user waits for, interpreter start and imports included.

A benchmark gives the database URLs; each call starts the real console script (`.venv/bin/hyperdash`) in a
fresh process with its own HYPERDASH_HOME, so the Dagster instance is the one the CLI would use.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, HOME_VAR, psycopg2_url


@dataclass(frozen=True)
class Measured:
    """One finished `hyperdash` process: wall seconds, its stdout, and its peak resident memory."""

    wall: float
    stdout: str
    peak_rss_mb: float


@dataclass(frozen=True)
class Cli:
    """The `hyperdash` command against given databases (the Dagster storage in `dagster_url`)."""

    crm_url: str
    bi_url: str
    dagster_url: str
    home: Path
    code: Path | None = None  # another checkout of the project to run instead of this one (its PYTHONPATH)

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        if self.code is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(self.code), *filter(None, [env.get("PYTHONPATH")])])
        env.update(
            {
                CRM_URL_VAR: self.crm_url,
                BI_URL_VAR: self.bi_url,
                DAGSTER_URL_VAR: psycopg2_url(self.dagster_url),
                HOME_VAR: str(self.home),
            }
        )
        return env

    def run(self, *args: str) -> tuple[float, str]:
        """(wall seconds, stdout) of `hyperdash <args>`; a failure raises with its stderr."""
        done = self.measure(*args)
        return done.wall, done.stdout

    def measure(self, *args: str) -> Measured:
        """`hyperdash <args>` with its peak RSS (the child's own, from wait4); a failure raises with its stderr."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            started = time.monotonic()
            child = subprocess.Popen([_console_script(), *args], stdout=out, stderr=err, env=self.environ())
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            if child.returncode != 0:
                raise RuntimeError(f"hyperdash {' '.join(args)} failed ({child.returncode}): {err.read()[-2000:]}")
            return Measured(wall, out.read(), usage.ru_maxrss / 1024)

    def median(self, args: Sequence[str], times: int = 3) -> float:
        return statistics.median(self.run(*args)[0] for _ in range(times))


def _console_script() -> str:
    script = Path(sys.executable).parent / "hyperdash"
    if not script.exists():
        raise RuntimeError(f"no hyperdash console script beside {sys.executable}: run `python3 tasks.py test` once")
    return str(script)


def load() -> str:
    """The 1-minute load average, to print beside a figure measured on a shared machine."""
    return f"{os.getloadavg()[0]:.1f}"
