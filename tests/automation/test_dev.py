"""`hyperdash dev` starts the UI on a fresh home and stops completely on SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.support.dev_server import running_dev_server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_dev_serves_the_ui_and_stops_on_a_signal_leaving_no_dagster_process(tmp_path: Path, signum: int) -> None:
    # Started with SIGINT ignored, as `hyperdash dev &` from a script is: the trap where dagster dev
    # maps SIGTERM onto an ignored SIGINT and never stops.
    with running_dev_server(tmp_path / "home") as server:
        server.wait_until_up()
        graphql = httpx.post(f"{server.url}/graphql", json={"query": "{ version }"}, timeout=30)
        assert graphql.status_code == 200 and graphql.json()["data"]["version"]
        assert server.dagster_processes(), "the webserver and daemon run with DAGSTER_HOME under the home"
        assert (server.home / "dagster" / "dagster.yaml").is_file()

        assert server.stop(signum) == 0
        assert server.dagster_processes() == []
        log = server.log.read_text()
        assert f"{signal.Signals(signum).name} received, stopping Dagster" in log
        assert "Dagster services shut down." in log  # a graceful stop, not the kill after the grace period
        assert "did not stop in time" not in log
