"""`hyperdash demo` end to end, as a new user runs it: a subprocess on a fresh HYPERDASH_HOME."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR, TEST_PG_URL_VAR, libpq_url
from hyperdash_pipeline.transforms import scalar

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get(TEST_PG_URL_VAR)), reason="the demo runs on the embedded default"),
]


def test_demo_end_to_end_on_a_fresh_home(home_dir):
    home = home_dir / "hyperdash-home"
    env = {k: v for k, v in os.environ.items() if k not in (CRM_URL_VAR, BI_URL_VAR, DAGSTER_URL_VAR, "DAGSTER_HOME")}
    env["HYPERDASH_HOME"] = str(home)
    command = [sys.executable, "-m", "hyperdash_pipeline.cli"]
    try:
        result = subprocess.run(
            [*command, "demo", "--leads", "3000"], env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        out = result.stdout
        assert "Top campaigns by real ROAS" in out
        assert "Next:" in out and "hyperdash dev" in out

        urls = _urls_in_use(command, env)
        with psycopg.connect(urls[CRM_URL_VAR]) as crm, psycopg.connect(urls[BI_URL_VAR]) as bi:
            crm_leads = scalar(crm, "SELECT count(*) FROM leads")
            raw_leads = scalar(bi, "SELECT count(*) FROM crm_raw.leads")
            attributed = scalar(bi, "SELECT count(*) FROM lead_attribution")
            live = scalar(crm, "SELECT count(*) FROM leads WHERE deleted_at IS NULL")
        assert crm_leads == 3000 and raw_leads == crm_leads
        assert attributed == live

        with psycopg.connect(libpq_url(urls[DAGSTER_URL_VAR])) as dagster:
            runs = scalar(dagster, "SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
        assert runs >= 1, "the demo's runs must be recorded in the Dagster instance the UI reads"
    finally:
        subprocess.run([*command, "stop"], env=env, capture_output=True, timeout=120)


def _urls_in_use(command: list[str], env: dict[str, str]) -> dict[str, str]:
    """The URLs `hyperdash env` reports for this HYPERDASH_HOME (the user's way to find them)."""
    out = subprocess.run([*command, "env"], env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export "))
    return {name: value.strip("'") for name, value in pairs}
