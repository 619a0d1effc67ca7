"""Progress of a running sync, read from the outside: BI's pg_stat_progress_copy for the sync's COPYs.

The sync streams bytes it never decodes, so it cannot count rows itself without slowing down; the
server that receives the COPY counts them anyway. A thread polls that count and prints rows, rate and
an ETA against the CRM tables' row estimates (for a full copy; an incremental run moves an unknown
number of changed rows, so it shows the rate only).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import psycopg

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.console import Progress
from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.sync.engine import BI_APPLICATION


def estimated_rows(crm_url: str, tables: Sequence[str]) -> int:
    with connect(crm_url, "crm", "hyperdash-sync/estimate", autocommit=True, statement_timeout_ms=10_000) as conn:
        rows = conn.execute(read_sql("transforms/sync/estimated_rows.sql"), {"tables": list(tables)}).fetchall()
    return sum(int(count) for _, count in rows)


class CopyProgress(threading.Thread):
    """Polls BI every `interval` seconds until stopped; use as a context manager around the sync."""

    def __init__(self, bi_url: str, total: int | None, interval: float = 0.5) -> None:
        super().__init__(daemon=True, name="hyperdash-sync-progress")
        self._bi_url = bi_url
        self._interval = interval
        self._stop_event = threading.Event()
        self._seen: dict[str, int] = {}  # COPY target -> rows it took (finished COPYs keep their count)
        self.progress = Progress("sync", total=total or None)

    def poll(self, conn: psycopg.Connection) -> None:
        query = read_sql("transforms/sync/copy_progress.sql")
        for target, tuples in conn.execute(query, {"application_name": BI_APPLICATION}).fetchall():
            self._seen[target] = max(self._seen.get(target, 0), int(tuples))
        if self._seen:
            self.progress.update(sum(self._seen.values()))

    def run(self) -> None:
        try:
            with connect(self._bi_url, "bi", "hyperdash-sync/progress", autocommit=True) as conn:
                while not self._stop_event.wait(self._interval):
                    self.poll(conn)
        except psycopg.Error:
            return  # progress is a courtesy: the sync's own result says whether it worked

    def __enter__(self) -> CopyProgress:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join(timeout=5)
