"""Start `hyperdash dev` as a user would (a subprocess on a fresh HYPERDASH_HOME) and stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from hyperdash_pipeline.embedded import stop_embedded
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, HOME_VAR
from tests.support.ports import free_port

STARTUP_TIMEOUT = 300.0  # a shared 2-core machine can take minutes to start the webserver and daemon
STOP_TIMEOUT = 60.0


def _ignore_sigint() -> None:
    """What `hyperdash dev &` from a non-interactive script gets: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    home: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"hyperdash dev exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"hyperdash dev did not answer in {STARTUP_TIMEOUT}s:\n{self.log.read_text()}")

    def dagster_processes(self) -> list[psutil.Process]:
        """Every live process started for this server's Dagster instance (they inherit its DAGSTER_HOME)."""
        ours = f"DAGSTER_HOME={self.home / 'dagster'}"
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() != psutil.STATUS_ZOMBIE and ours in _environ(proc):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=STOP_TIMEOUT)


def _environ(proc: psutil.Process) -> str:
    try:
        return Path(f"/proc/{proc.pid}/environ").read_bytes().decode(errors="replace").replace("\0", "\n")
    except OSError:
        return ""


def dev_environment(home: Path, database_urls: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its database URLs (so the embedded server under `home` serves them),
    or with exactly `database_urls` (variable -> URL) instead."""
    env = {k: v for k, v in os.environ.items() if k not in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR, "DAGSTER_HOME")}
    env[HOME_VAR] = str(home)
    env.update(database_urls or {})
    return env


@contextmanager
def running_dev_server(
    home: Path, *, ignore_sigint: bool = True, database_urls: dict[str, str] | None = None
) -> Iterator[DevServer]:
    """`hyperdash dev` on the embedded database under `home` (or on `database_urls`); always stopped (and
    its server) at the end."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)  # the embedded server runs as an unprivileged user when we are root
    port = free_port()
    log = home / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hyperdash_pipeline.cli", "dev", "--port", str(port)],
            env=dev_environment(home, database_urls),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint if ignore_sigint else None,
        )
    server = DevServer(process, home, port, log)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for proc in server.dagster_processes():
            proc.kill()
        stop_embedded(home)
