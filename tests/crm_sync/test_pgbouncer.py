"""Behind PgBouncer in transaction pooling mode (how Neon's pooled endpoint works).

The webhook takes leads through it (no server-side prepared statements there); the sync refuses it with
an error naming the setting and the direct endpoint. Each test starts its own `pgbouncer` (Debian's
package, `.ci/install-pgbouncer`) in front of the test PostgreSQL and skips when the binary is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, HOME_VAR
from hyperdash_pipeline.sync.engine import PooledEndpointError, check_endpoints, run_sync
from hyperdash_pipeline.webhook.config import SPOOL_VAR
from hyperdash_pipeline.webhook.signing import signed_headers

pytestmark = pytest.mark.slow


def _pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("pgbouncer is not installed (.ci/install-pgbouncer: apt-get install pgbouncer)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Bouncer:
    port: int
    log: Path

    def url(self, direct_url: str) -> str:
        """`direct_url`'s database and user, through this pgbouncer."""
        info = conninfo_to_dict(direct_url)
        return f"postgresql://{info.get('user') or 'postgres'}@127.0.0.1:{self.port}/{info['dbname']}"


def _ini(upstream_url: str, port: int, folder: Path, settings: dict[str, str]) -> str:
    info = conninfo_to_dict(upstream_url)
    user = str(info.get("user") or "postgres")
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    lines = [
        "[databases]",
        f"* = host={info.get('host') or '127.0.0.1'} port={info.get('port') or 5432}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {folder / 'userlist.txt'}",
        "max_client_conn = 200",
        "default_pool_size = 4",
        *(f"{key} = {value}" for key, value in settings.items()),
    ]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root; it drops to this user after reading its files
        lines.append("user = nobody")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def pgbouncer(upstream_url: str, **settings: str) -> Iterator[Bouncer]:
    """A pgbouncer on a free port in front of `upstream_url`'s server, with `settings` (pool_mode=...).

    It ignores the `options` startup parameter unless `settings` say otherwise, as a pooler set up for clients
    that send one does: the sync's probe, not the refused parameter, is then what tells it apart.
    """
    binary = _pgbouncer_binary()
    if str(conninfo_to_dict(upstream_url).get("host") or "").startswith("/"):
        # Dropped to `nobody`, pgbouncer cannot log in to the embedded server over its private socket.
        pytest.skip("needs a TCP PostgreSQL to sit in front of: run with HYPERDASH_TEST_PG_URL (as .ci/run does)")
    folder = Path(tempfile.mkdtemp(prefix="hd-pgbouncer-"))
    folder.chmod(0o755)
    port = _free_port()
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        _ini(upstream_url, port, folder, {"ignore_startup_parameters": "extra_float_digits,options", **settings})
    )
    log = folder / "pgbouncer.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, str(ini)], stdout=sink, stderr=subprocess.STDOUT)
    bouncer = Bouncer(port, log)
    try:
        _wait_listening(bouncer, process)
        yield bouncer
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_listening(bouncer: Bouncer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with {process.returncode}: {bouncer.log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", bouncer.port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"pgbouncer did not listen within 30 s: {bouncer.log.read_text()[-2000:]}")


def _open_server_connections(url: str, count: int) -> None:
    """Make the pool hold `count` server connections: as many clients inside a transaction at once."""
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            conn = stack.enter_context(psycopg.connect(url))
            conn.execute("SELECT 1")  # a transaction stays open: its server connection is this client's


# --- the webhook -------------------------------------------------------------------------------------


def _serve_webhook(crm_url: str, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, CRM_URL_VAR: crm_url, HOME_VAR: str(home), SPOOL_VAR: "off"}
    command = [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook", "--port", str(port), "--workers", "1"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the webhook exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return process, base_url
        time.sleep(0.2)
    process.terminate()
    pytest.fail(f"the webhook was not ready within 120 s: {log.read_text()[-2000:]}")


def _secret(crm_url: str, home: Path, organization_id: str) -> str:
    env = {**os.environ, CRM_URL_VAR: crm_url, HOME_VAR: str(home)}
    command = [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook-secret", "--organization", organization_id]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_the_webhook_takes_leads_through_a_transaction_pooler(databases: Any, home_dir: Path) -> None:
    # Round robin moves the webhook's pooled connection between two server connections at every transaction:
    # a statement prepared on one is unknown to the other.
    with pgbouncer(databases.crm_url, pool_mode="transaction", server_round_robin="1") as bouncer:
        pooled_url = bouncer.url(databases.crm_url)
        _open_server_connections(pooled_url, 2)
        organization_id = str(uuid.uuid4())
        secret = _secret(pooled_url, home_dir, organization_id)
        process, base_url = _serve_webhook(pooled_url, home_dir, home_dir / "webhook.log")
        try:
            answers = []
            with httpx.Client(base_url=base_url, timeout=10) as client:
                for n in range(12):  # psycopg would prepare the insert at its fifth run on a connection
                    body = json.dumps({"organization": organization_id, "email": f"lead{n}@example.org"}).encode()
                    headers = signed_headers(secret, body, content_type="application/json")
                    answers.append(client.post("/webhooks/leads", content=body, headers=headers))
        finally:
            process.terminate()
            process.wait(timeout=30)
        log = (home_dir / "webhook.log").read_text()
    assert [answer.status_code for answer in answers] == [201] * 12, log[-3000:]
    with psycopg.connect(databases.crm_url) as conn:
        emails = {
            row[0] for row in conn.execute("SELECT email FROM leads WHERE organization_id = %s", [organization_id])
        }
    assert emails == {f"lead{n}@example.org" for n in range(12)}
    assert "prepared statement" not in log


# --- the sync ----------------------------------------------------------------------------------------


def _sync_command(env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hyperdash_pipeline.cli", "sync", "--always"]
    return subprocess.run(
        command, env={**os.environ, **env, HOME_VAR: str(home)}, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("round_robin", ["0", "1"])
@pytest.mark.parametrize("pooled", [CRM_URL_VAR, BI_URL_VAR])
def test_the_sync_refuses_a_transaction_pooled_endpoint(
    databases: Any, home_dir: Path, pooled: str, round_robin: str
) -> None:
    urls = {CRM_URL_VAR: databases.crm_url, BI_URL_VAR: databases.bi_url}
    with pgbouncer(urls[pooled], pool_mode="transaction", server_round_robin=round_robin) as bouncer:
        urls[pooled] = bouncer.url(urls[pooled])
        _open_server_connections(urls[pooled], 2)
        done = _sync_command(urls, home_dir)
        with pytest.raises(PooledEndpointError, match=f"{pooled} .* direct"):  # a Dagster-launched run too
            run_sync(urls[CRM_URL_VAR], urls[BI_URL_VAR])
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{pooled} (" in done.stderr and "direct (unpooled) endpoint" in done.stderr
    assert "Traceback" not in done.stderr
    with psycopg.connect(databases.bi_url) as conn:
        assert conn.execute("SELECT count(*) FROM sync_state").fetchone() == (0,)  # nothing was synced


def test_a_pooler_that_refuses_the_session_settings_is_named_too(databases: Any) -> None:
    # PgBouncer refuses the `options` startup parameter unless told to ignore it.
    with (
        pgbouncer(
            databases.crm_url, pool_mode="transaction", ignore_startup_parameters="extra_float_digits"
        ) as bouncer,
        pytest.raises(PooledEndpointError, match=f"{CRM_URL_VAR} .*refused the session's settings"),
    ):
        run_sync(bouncer.url(databases.crm_url), databases.bi_url)


def test_a_session_pooler_is_not_mistaken_for_a_transaction_pooler(databases: Any) -> None:
    with pgbouncer(databases.crm_url, pool_mode="session") as bouncer:
        check_endpoints(bouncer.url(databases.crm_url), databases.bi_url)


def test_a_neon_pooled_host_is_refused_before_connecting(home_dir: Path) -> None:
    pooled = "postgresql://app:s3cret@ep-cool-name-123456-pooler.us-east-2.aws.neon.tech/crm?sslmode=require"
    done = _sync_command({CRM_URL_VAR: pooled, BI_URL_VAR: "postgresql://app@127.0.0.1:1/bi"}, home_dir)
    assert done.returncode == 2 and "CRM_DATABASE_URL (" in done.stderr
    assert "-pooler" in done.stderr and "direct (unpooled) endpoint" in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
