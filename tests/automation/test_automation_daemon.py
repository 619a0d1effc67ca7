"""A lead reaches the analytics tables by itself, as the product runs: `hyperdash dev` (webserver and
daemon) and `hyperdash webhook` as real subprocesses on fresh databases and a fresh Dagster instance.

One signed lead is posted; nothing else is done. The test waits until the lead is in crm_raw.leads,
lead_attribution, analytics.attribution_credits and counted in its creative's row of
analytics.creative_performance. Each sensor's and schedule's status is read from the webserver's
GraphQL API and compared with the README's table of what runs by itself. No process is left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, HOME_VAR, PROJECT_ROOT
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.dev_server import DevServer, running_dev_server
from tests.support.ports import free_port
from tests.support.webhook import Org, create_source, lead

pytestmark = pytest.mark.slow

ARRIVAL_TIMEOUT = (
    600.0  # post -> creative row; a loaded 2-core machine: the daemon, code server, run workers start cold
)
POLL_SECONDS = 1.0
AD_ID = "120200000099"  # the creative of test_webhook.lead()

INSTIGATORS_QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        sensors { name sensorState { status } }
        schedules { name scheduleState { status } }
      }
    }
    ... on PythonError { message }
  }
}
"""


def readme_fresh_instance_statuses(readme: Path = PROJECT_ROOT / "README.md") -> dict[str, str]:
    """Name -> status ("running"/"stopped") from the README's table of what runs by itself."""
    text = readme.read_text()
    header = "| what | kind | in a fresh instance | when |"
    assert header in text, f"README.md lost its table of what runs by itself ({header})"
    rows = text[text.index(header) :].splitlines()[2:]
    statuses = {}
    for row in rows:
        if not row.startswith("|"):
            break
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        name = re.fullmatch(r"`([a-z0-9_]+)`", cells[0])
        assert name, f"one backticked name per row in README's table: {row}"
        statuses[name.group(1)] = cells[2]
    return statuses


def instigator_statuses(server: DevServer) -> dict[str, str]:
    """Name -> status of every sensor and schedule, as the webserver reports them (lower case)."""
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.post(f"{server.url}/graphql", json={"query": INSTIGATORS_QUERY}, timeout=60).json()
        result = answer["data"]["repositoriesOrError"]
        nodes = result.get("nodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(2)  # the code location is still loading
    assert nodes, f"the webserver lists no repository: {json.dumps(answer)[:2000]}"
    statuses = {}
    for repository in nodes:
        for sensor in repository["sensors"]:
            statuses[sensor["name"]] = sensor["sensorState"]["status"].lower()
        for schedule in repository["schedules"]:
            statuses[schedule["name"]] = schedule["scheduleState"]["status"].lower()
    return statuses


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process started with this HYPERDASH_HOME (dev, Dagster, run workers, the webhook)."""
    marker = f"{HOME_VAR}={home}".encode()
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        except (OSError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in environ:
            found.append(proc)
    return found


@contextmanager
def running_webhook(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hyperdash webhook` in its own process group; the group is stopped (killed if it must) at the end."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base_url, process, log), time.monotonic() + 120, "the webhook to answer", log)
        yield base_url, process
    finally:
        stop_group(process)


def _answers(base_url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"hyperdash webhook exited with {process.returncode}: {log.read_text()[-3000:]}")
    try:
        return httpx.get(f"{base_url}/openapi.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_group(process: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(found: Callable[[], Any], deadline: float, what: str, log: Path) -> Any:
    """Poll `found` until it returns something truthy, or fail at `deadline` (time.monotonic()) with the log."""
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"gave up waiting for {what}; last lines of {log}:\n{log.read_text()[-5000:]}")


def bi_value(bi_url: str, query: str, lead_id: str) -> Any:
    with psycopg.connect(bi_url, autocommit=True) as conn:
        row = conn.execute(query, {"lead_id": lead_id, "ad_id": AD_ID}).fetchone()
    return row[0] if row else None


def post_lead(base_url: str, org: Org) -> str:
    body = json.dumps(lead(org, email="daemon@example.com")).encode()
    response = httpx.post(
        f"{base_url}/webhooks/leads",
        content=body,
        headers=signed_headers(org.secret, body, content_type="application/json"),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["lead_id"])


IN_CRM_RAW = "SELECT 1 FROM crm_raw.leads WHERE id = %(lead_id)s"
IN_LEAD_ATTRIBUTION = "SELECT source FROM public.lead_attribution WHERE lead_id = %(lead_id)s"
IN_CREDITS = "SELECT count(*) FROM analytics.attribution_credits WHERE lead_id = %(lead_id)s"
CREATIVE_LEADS = """
SELECT cp.leads FROM analytics.creative_performance AS cp
JOIN public.lead_attribution AS la ON la.organization_id = cp.organization_id AND la.ad_id = cp.ad_id
WHERE la.lead_id = %(lead_id)s AND cp.ad_id = %(ad_id)s
"""


@pytest.fixture
def dagster_database(pg_server: Any) -> Iterator[str]:
    """A fresh, empty database for the Dagster instance's runs, events and schedules."""
    name = f"hd_daemon_{os.getpid()}_{time.monotonic_ns()}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.mark.timeout(1500)  # start-up (up to 300 s), arrival (up to 600 s), stop; measured 56-101 s
def test_a_posted_lead_reaches_the_analytics_tables_with_nobody_clicking(
    databases: Any,
    dagster_database: str,
    home_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = {CRM_URL_VAR: databases.crm_url, BI_URL_VAR: databases.bi_url, DAGSTER_URL_VAR: dagster_database}
    monkeypatch.setenv(HOME_VAR, str(home_dir))  # the secret is sealed with the key the webhook will open it with
    org = create_source(capsys, "daemon-lp")
    webhook_env = {**os.environ, **urls, HOME_VAR: str(home_dir)}
    with (
        running_dev_server(home_dir, database_urls=urls) as server,
        running_webhook(webhook_env, home_dir / "webhook.log") as (webhook, webhook_process),
    ):
        server.wait_until_up()
        assert instigator_statuses(server) == readme_fresh_instance_statuses(), (
            "every sensor and schedule runs (or not) in a fresh instance as README.md's table says"
        )

        lead_id = post_lead(webhook, org)
        deadline = time.monotonic() + ARRIVAL_TIMEOUT

        def arrives(query: str, what: str) -> Any:
            return wait_for(lambda: bi_value(databases.bi_url, query, lead_id), deadline, what, server.log)

        assert arrives(IN_CRM_RAW, "the lead in crm_raw.leads") == 1
        assert arrives(IN_LEAD_ATTRIBUTION, "the lead in lead_attribution") == "meta"
        assert arrives(IN_CREDITS, "the lead's rows in analytics.attribution_credits") > 0
        assert arrives(CREATIVE_LEADS, "the lead counted in its creative's row of creative_performance") == 1

        assert server.stop(signal.SIGTERM) == 0
        stop_group(webhook_process)
        leftovers = processes_of(home_dir)
        assert leftovers == [], f"processes left behind: {[p.cmdline() for p in leftovers]}"
