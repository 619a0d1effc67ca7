"""`hyperdash dev`: databases up and migrated, then the Dagster UI and daemon, stopped cleanly by a signal.

`dagster dev` maps SIGTERM onto its SIGINT handler. A process started with `&` from a non-interactive
shell inherits SIGINT *ignored*, so such a `dagster dev` ignores SIGTERM too and outlives its script.
Here the child is started after this process has installed its own SIGINT/SIGTERM handlers: a caught
signal is reset to its default on exec, so the child always gets a working SIGINT, whatever this
process inherited. The child runs in its own process group (session); a SIGINT or SIGTERM to us is
forwarded to that whole group (webserver, daemon, code servers), and whatever is still alive after
the grace period is killed, so no Dagster process is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.settings import HOME_VAR, PROJECT_ROOT, hyperdash_home

GRACE_SECONDS = 30.0
DEFAULT_PORT = 3000
DEFAULT_HOST = "127.0.0.1"


def dagster_dev_command(port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-p",
        str(port),
        "-h",
        host,
    ]


class _Supervisor:
    """Forwards the signals we receive to the child's process group, then makes sure the group is gone."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pgid = process.pid  # start_new_session: the child leads its own group
        self.stop_requested_at: float | None = None

    def forward(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            print(f"hyperdash dev: {signal.Signals(signum).name} received, stopping Dagster", file=sys.stderr)
        self._signal_group(signum)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    def wait(self) -> int:
        while True:
            try:
                code = self.process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self.stop_requested_at and time.monotonic() - self.stop_requested_at > GRACE_SECONDS:
                    print("hyperdash dev: Dagster did not stop in time, killing it", file=sys.stderr)
                    self._signal_group(signal.SIGKILL)
        self._reap_group()
        return code

    def _reap_group(self) -> None:
        """Stragglers (a code server the webserver started) go with their parent."""
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        self._signal_group(signal.SIGKILL)


def run_dev(port: int, host: str) -> int:
    urls = export_database_urls()
    home = hyperdash_home()
    os.environ[HOME_VAR] = str(home)  # runs started by the UI write reports where the CLI does
    for report in migrate_all(urls.crm, urls.bi):
        if report.applied:
            print(f"{report.database}: applied {', '.join(report.applied)}", file=sys.stderr)
    dagster_home = prepare_dagster_home(home)
    pending: list[int] = []  # a signal that arrives before the child exists still stops it
    supervisor: _Supervisor | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if supervisor is None:
            pending.append(signum)
        else:
            supervisor.forward(signum, frame)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # cwd: DAGSTER_HOME, so `dagster dev` does not warn about the repository's own dagster.yaml.
        process = subprocess.Popen(dagster_dev_command(port, host), cwd=dagster_home, start_new_session=True)
        supervisor = _Supervisor(process)
        for signum in pending:
            supervisor.forward(signum, None)
        print(f"hyperdash dev: Dagster UI on http://{host}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
        sys.stdout.flush()
        code = supervisor.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    stopped_by_us = supervisor is not None and supervisor.stop_requested_at is not None
    return 0 if stopped_by_us else code


def dev(args: argparse.Namespace) -> int:
    return run_dev(args.port, args.host)


def register_dev(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "dev",
        help="migrate, then run the Dagster UI and daemon (sensors and schedules run); Ctrl-C or SIGTERM stops all",
    )
    cmd.add_argument("--port", "-p", type=int, default=DEFAULT_PORT, help=f"UI port (default {DEFAULT_PORT})")
    cmd.add_argument("--host", "-H", default=DEFAULT_HOST, help=f"UI address (default {DEFAULT_HOST})")
    cmd.set_defaults(handler=dev)
