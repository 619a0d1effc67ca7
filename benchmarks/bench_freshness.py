"""How fresh the analytics tables are under the running daemon: post -> crm_raw, lead_attribution, creative row.

One command: `.venv/bin/python benchmarks/bench_freshness.py [--leads 12] [--minutes 3]`.
It makes scratch CRM, BI and Dagster databases on the configured (by default embedded) PostgreSQL,
starts the real `hyperdash dev` (webserver + daemon, fresh instance, nothing turned on by hand) and the
real `hyperdash webhook`, posts one warm-up lead and waits for it to reach the analytics tables (the
first runs start cold), then posts `--leads` signed leads at random moments over `--minutes`, each with
its own creative (ad_id), and polls BI every half second for when each lead shows up:

- in `crm_raw.leads` (the CRM-changes sensor and the sync run),
- in `lead_attribution` (then the automation sensor and the analytics run),
- counted in its creative's row of `analytics.creative_performance` (the correlation tables).

It prints p50 / p95 / max of each delay beside the targets (p95 <= 45 s to lead_attribution, <= 90 s
to the correlation tables), the floor the polling intervals alone impose (the mean wait of a poll is
half its interval), and the CPU the Dagster processes used per minute while idle and while the leads
arrived: what shorter intervals cost. `--crm-poll-seconds` / `--automation-seconds` set the two knobs
(HYPERDASH_CRM_POLL_SECONDS / HYPERDASH_AUTOMATION_SECONDS) for the run, so the shipped defaults and,
say, Dagster's usual 30 s can be measured side by side in two runs. The load average is printed beside
every figure: on a shared machine the run workers' start-up dominates and varies with it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from psycopg import sql

from hyperdash_pipeline.automation.intervals import (
    AUTOMATION_VAR,
    CRM_POLL_VAR,
    DEFAULT_AUTOMATION_SECONDS,
    DEFAULT_CRM_POLL_SECONDS,
)
from hyperdash_pipeline.cli import main as hyperdash
from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, HOME_VAR, libpq_url
from hyperdash_pipeline.webhook.signing import signed_headers

APPLICATION = "hyperdash-bench-freshness"
TARGETS = {"lead_attribution": 45.0, "creative_performance": 90.0}
STAGES = ("crm_raw", "lead_attribution", "creative_performance")
STAGE_QUERIES = {
    "crm_raw": "SELECT id::text FROM crm_raw.leads WHERE id = ANY(%(ids)s::uuid[])",
    "lead_attribution": "SELECT lead_id::text FROM public.lead_attribution WHERE lead_id = ANY(%(ids)s::uuid[])",
    # Each lead has its own creative: its row exists with a lead counted once the lead is in it.
    "creative_performance": "SELECT la.lead_id::text FROM analytics.creative_performance AS cp"
    " JOIN public.lead_attribution AS la ON la.organization_id = cp.organization_id AND la.ad_id = cp.ad_id"
    " WHERE la.lead_id = ANY(%(ids)s::uuid[]) AND cp.leads >= 1",
}
STARTUP_TIMEOUT = 600.0
ARRIVAL_TIMEOUT = 900.0


@dataclass
class Lead:
    lead_id: str
    posted: float
    seen: dict[str, float] = field(default_factory=dict)


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _database_url(url: str, database: str) -> str:
    return urlunsplit(urlsplit(libpq_url(url))._replace(path=f"/{database}"))


@contextlib.contextmanager
def scratch_databases() -> Iterator[dict[str, str]]:
    """Fresh CRM and BI (migrated) and Dagster databases beside the configured CRM; dropped afterwards."""
    base = export_database_urls().crm
    admin = _database_url(base, "postgres")
    tag = uuid.uuid4().hex[:8]
    names = {
        var: f"bench_fresh_{tag}_{var.split('_')[0].lower()}" for var in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR)
    }
    with connect(admin, "admin", APPLICATION, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        urls = {var: _database_url(base, name) for var, name in names.items()}
        migrate_all(urls[CRM_URL_VAR], urls[BI_URL_VAR])
        yield urls
    finally:
        with connect(admin, "admin", APPLICATION, autocommit=True) as conn:
            for name in names.values():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process_group(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`command` in its own process group (session); the whole group is stopped at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=45)
                break


def wait_until(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(1)
    raise RuntimeError(f"{what} did not answer within {STARTUP_TIMEOUT:.0f} s: {log.read_text()[-3000:]}")


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of `root` and its live descendants, each with the children it already reaped (Linux)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(f) for f in fields[11:15]) / _TICKS
    total = 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (0, 1, root):
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += seconds
    return total


def new_organization(crm_url: str, home: Path) -> tuple[str, str]:
    """An organization and its signing secret, made by the real `hyperdash webhook-secret` under the
    HYPERDASH_HOME the webhook runs with (the secret is sealed with that home's key)."""
    organization_id = str(uuid.uuid4())
    out = io.StringIO()
    os.environ[CRM_URL_VAR] = crm_url
    os.environ[HOME_VAR] = str(home)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert hyperdash(["webhook-secret", "--organization", organization_id]) == 0
    return organization_id, out.getvalue().strip()


def post_lead(base: str, organization_id: str, secret: str, n: int) -> Lead:
    body = json.dumps(
        {
            "organization": organization_id,
            "name": f"Fresh Lead {n}",
            "email": f"fresh{n}@bench.example.com",
            "campaign_id": "238500000001",
            "ad_id": f"2386{n:08d}",  # its own creative: its row in creative_performance is its own
            "utm_source": "facebook",
            "utm_medium": "paid_social",
            "fbclid": f"IwAR{n:010d}",
        }
    ).encode()
    posted = time.time()
    response = httpx.post(
        f"{base}/webhooks/leads",
        content=body,
        headers=signed_headers(secret, body, content_type="application/json"),
        timeout=30,
    )
    response.raise_for_status()
    return Lead(str(response.json()["lead_id"]), posted)


def observe(bi_url: str, leads: list[Lead]) -> None:
    """Stamp, for each lead, the first poll that finds it at each stage."""
    with connect(bi_url, "bi", APPLICATION, autocommit=True) as conn:
        for stage in STAGES:
            waiting = [lead for lead in leads if stage not in lead.seen]
            if not waiting:
                continue
            found = {row[0] for row in conn.execute(STAGE_QUERIES[stage], {"ids": [x.lead_id for x in waiting]})}
            now = time.time()
            for lead in waiting:
                if lead.lead_id in found:
                    lead.seen[stage] = now


def wait_for_all(bi_url: str, leads: list[Lead], timeout: float = ARRIVAL_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observe(bi_url, leads)
        if all(len(lead.seen) == len(STAGES) for lead in leads):
            return
        time.sleep(0.5)
    missing = [(lead.lead_id, sorted(set(STAGES) - set(lead.seen))) for lead in leads if len(lead.seen) < 3]
    raise RuntimeError(f"not every lead arrived within {timeout:.0f} s: {missing}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a small sample."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def post_spread(base: str, org: tuple[str, str], bi_url: str, count: int, seconds: float, seed: int) -> list[Lead]:
    """`count` leads at uniformly random moments over `seconds`, polling BI in between."""
    rng = random.Random(seed)
    moments = sorted(rng.uniform(0, seconds) for _ in range(count))
    started = time.monotonic()
    leads: list[Lead] = []
    for n, moment in enumerate(moments, start=1):
        while time.monotonic() - started < moment:
            observe(bi_url, leads)
            time.sleep(min(0.5, max(0.0, moment - (time.monotonic() - started))))
        leads.append(post_lead(base, *org, n=n))
    return leads


def report(leads: list[Lead], crm_poll: int, automation: int, idle_cpu: float, busy_cpu: float) -> None:
    floor = {  # mean wait the polls alone add (half an interval each), before any run starts
        "crm_raw": crm_poll / 2,
        "lead_attribution": crm_poll / 2 + automation / 2,
        "creative_performance": crm_poll / 2 + automation / 2,
    }
    print(f"\n{len(leads)} leads; CRM poll {crm_poll} s, automation {automation} s; {load()}")
    print(f"{'post ->':<24}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'target p95':>12}{'poll floor':>12}")
    for stage in STAGES:
        delays = [lead.seen[stage] - lead.posted for lead in leads]
        target = TARGETS.get(stage)
        target_text = f"<= {target:.0f} s" if target else "-"
        verdict = "" if target is None else ("  met" if percentile(delays, 95) <= target else "  NOT met")
        print(
            f"{stage:<24}{statistics.median(delays):>8.1f}{percentile(delays, 95):>8.1f}{max(delays):>8.1f}"
            f"{target_text:>12}{floor[stage]:>11.1f}s{verdict}"
        )
    print(f"Dagster processes' CPU: idle {idle_cpu:.2f} s/min, while leads arrived {busy_cpu:.2f} s/min ({load()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=12, help="leads posted in the measured window (default 12)")
    parser.add_argument("--minutes", type=float, default=3.0, help="window they are spread over (default 3)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle CPU measured this long (default 60)")
    parser.add_argument("--crm-poll-seconds", type=int, default=DEFAULT_CRM_POLL_SECONDS)
    parser.add_argument("--automation-seconds", type=int, default=DEFAULT_AUTOMATION_SECONDS)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    with scratch_databases() as urls, tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        home = Path(tmp)
        home.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env |= urls | {HOME_VAR: str(home), CRM_POLL_VAR: str(args.crm_poll_seconds)}
        env[AUTOMATION_VAR] = str(args.automation_seconds)
        org = new_organization(urls[CRM_URL_VAR], home)
        dev_port, hook_port = free_port(), free_port()
        dev_cmd = [sys.executable, "-m", "hyperdash_pipeline.cli", "dev", "--port", str(dev_port)]
        hook_cmd = [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook", "--port", str(hook_port)]
        with (
            process_group(dev_cmd, env, home / "dev.log") as dev,
            process_group(hook_cmd, env, home / "webhook.log") as hook,
        ):
            started = time.monotonic()
            wait_until(f"http://127.0.0.1:{dev_port}/server_info", dev, home / "dev.log", "hyperdash dev")
            base = f"http://127.0.0.1:{hook_port}"
            wait_until(f"{base}/readyz", hook, home / "webhook.log", "hyperdash webhook")
            print(f"hyperdash dev and webhook up in {time.monotonic() - started:.0f} s ({load()})")

            warm = [post_lead(base, *org, n=0)]
            wait_for_all(urls[BI_URL_VAR], warm)
            print("warm-up lead (cold daemon, first runs): " + ", ".join(
                f"{stage} {warm[0].seen[stage] - warm[0].posted:.1f} s" for stage in STAGES
            ) + f" ({load()})")  # fmt: skip

            cpu_before = tree_cpu_seconds(dev.pid)
            time.sleep(args.idle_seconds)
            idle_cpu = (tree_cpu_seconds(dev.pid) - cpu_before) / (args.idle_seconds / 60)

            cpu_before, window_started = tree_cpu_seconds(dev.pid), time.monotonic()
            leads = post_spread(base, org, urls[BI_URL_VAR], args.leads, args.minutes * 60, args.seed)
            wait_for_all(urls[BI_URL_VAR], leads)
            busy_minutes = (time.monotonic() - window_started) / 60
            busy_cpu = (tree_cpu_seconds(dev.pid) - cpu_before) / busy_minutes
            report(leads, args.crm_poll_seconds, args.automation_seconds, idle_cpu, busy_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
