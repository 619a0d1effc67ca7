"""benchmarks/bench_growth.py: a quick run prints every stage at every size, the verdict, and leaves no database."""

from __future__ import annotations

import os
import sys

import psycopg
import pytest

from hyperdash_pipeline.settings import PROJECT_ROOT, TEST_PG_URL_VAR

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import bench_growth

from tests.support.postgres import PgServer

STAGES = (
    "seed",
    "full sync",
    "full rebuild",
    "incr. sync 1%",
    "incr. refresh 1%",
    "incr. sync 1k",
    "incr. refresh 1k",
)


def test_exponent_is_one_for_linear_growth_and_zero_for_flat() -> None:
    assert bench_growth.exponent(1_000, 2.0, 10_000, 20.0) == pytest.approx(1.0)
    assert bench_growth.exponent(1_000, 3.0, 5_000, 3.0) == pytest.approx(0.0)
    assert bench_growth.exponent(1_000, 1.0, 4_000, 16.0) == pytest.approx(2.0)


@pytest.mark.slow
def test_quick_run_prints_each_stage_and_drops_its_databases(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TEST_PG_URL_VAR, pg_server.admin_url)
    assert bench_growth.main(["--sizes", "3000,1500"]) == 0
    out = capsys.readouterr().out
    for size in (1_500, 3_000):
        for stage in STAGES:
            assert f"{size:>10,} {stage:<18} " in out, f"no {stage} row at {size}:\n{out}"
    assert "1,500->3,000:" in out  # sizes sorted, an exponent per stage
    assert "verdict: every full stage's exponent <= 1.1:" in out
    assert "recomputed" in out and "leads incremental" in out  # what the commands said they did
    with psycopg.connect(pg_server.admin_url) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"hd_bench_growth_{os.getpid()}_%"]
        ).fetchall()
    assert left == []
