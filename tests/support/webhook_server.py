"""The real `hyperdash webhook` server as a subprocess: wait until it answers /readyz, or run it as a process
group a test can SIGKILL and start again (outage and fault tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

DEADLINE_SECONDS = 2  # the header and body timeouts WebhookServer starts the server with


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the webhook server exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"the webhook server was not ready within 120 s: {log.read_text()[-2000:]}")


@dataclass
class WebhookServer:
    port: int
    spool: Path
    crm_url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, workers: int = 2, http: str = "auto", **env: str) -> None:
        command = [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook", "--port", str(self.port), "--http", http]
        environment = {
            **os.environ,
            "CRM_DATABASE_URL": self.crm_url,
            "HYPERDASH_WEBHOOK_SPOOL": str(self.spool),
            "HYPERDASH_WEBHOOK_HEADER_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
            "HYPERDASH_WEBHOOK_BODY_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
            **env,
        }
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL reaches the workers too
            )
        wait_ready(self.base_url, self.process, self.log)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
