"""`hyperdash sync` tells how far a long copy is (rows, rate, ETA) and speaks JSON to scripts."""

from __future__ import annotations

import io
import json

import psycopg

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.sync.engine import BI_APPLICATION
from hyperdash_pipeline.sync.progress import CopyProgress, estimated_rows
from hyperdash_pipeline.transforms import scalar
from tests.support.sync_data import populate


def test_progress_counts_the_rows_a_running_copy_has_taken(databases) -> None:
    watcher = CopyProgress(databases.bi_url, total=50_000)
    watcher.progress.stream = io.StringIO()
    with psycopg.connect(databases.bi_url, application_name=BI_APPLICATION) as copier:
        copier.execute("CREATE TEMP TABLE staging (n int)")
        with copier.cursor().copy("COPY staging FROM STDIN") as copy:
            for n in range(50_000):
                copy.write_row((n,))
            copier.pgconn.flush()
            with psycopg.connect(databases.bi_url, autocommit=True) as observer:
                watcher.poll(observer)
    assert 0 < watcher.progress.done <= 50_000
    line = watcher.progress.stream.getvalue()
    assert f"sync: {watcher.progress.done:,}/50,000" in line and "rows/s" in line


def test_sync_json_output_and_row_estimates(databases, capsys, home_dir, monkeypatch) -> None:
    monkeypatch.setenv("HYPERDASH_HOME", str(home_dir))
    monkeypatch.setenv("DAGSTER_PG_URL", databases.bi_url)  # set, so no embedded server is started
    populate(databases.crm_url, 30)
    assert main(["sync", "--full", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    by_table = {row["table"]: row for row in out["tables"]}
    assert by_table["leads"]["rows"] == by_table["leads"]["inserted"] > 0
    assert out["run_id"]
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute("ANALYZE leads")
        count = scalar(conn, "SELECT count(*) FROM leads")
    assert estimated_rows(databases.crm_url, ["leads"]) == count
