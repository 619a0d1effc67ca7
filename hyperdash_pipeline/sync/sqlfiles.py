"""The sync's SQL files, read without importing Dagster (conventions.read_sql does the same for others)."""

from __future__ import annotations

from functools import cache

from hyperdash_pipeline.settings import SQL_DIR


@cache
def read_sync_sql(relative_path: str) -> str:
    """The text of a file under sql/, e.g. `transforms/sync/upsert.sql`."""
    path = SQL_DIR / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing from the checkout")
    return path.read_text()
