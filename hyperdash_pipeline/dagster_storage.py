"""The Dagster instance's PostgreSQL storage, holding its connections (dagster.yaml `storage: custom`).

dagster-postgres opens a new connection for every query of its run, event log and schedule storages
(SQLAlchemy's NullPool): a daemon-launched sync run makes ~40 event writes and ~125 connections, each a
new PostgreSQL backend. This storage is dagster-postgres's own, with the pool dagster-webserver gives it
(`optimize_for_webserver`): one connection per storage kept open and reused, more opened and closed as
needed. Every process that loads the instance (daemon, run workers, `hyperdash` commands, the webserver,
which sets its own pool on top) then holds at most three idle connections to the Dagster database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

if TYPE_CHECKING:
    from dagster._serdes import ConfigurableClassData

# dagster-webserver's pool for the same storages, without its statement timeout (a daemon's or a run's
# queries are not a page waiting to render): one held connection, up to 20 more at once, recycled hourly.
STORAGE_POOL = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 20}


class HeldConnectionsPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres's storage (same config, same tables) whose storages reuse their connections."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> HeldConnectionsPostgresStorage:
        storage = cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
        for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
            part.optimize_for_webserver(**STORAGE_POOL)
        return storage
