"""Noticing a CRM that went back in time (docs/sync.md, "A CRM that goes back in time").

The sync bumps a generation counter in the CRM (`hyperdash_sync_generation`) on every run, after its
snapshot is taken and before anything commits in BI, and records per table in BI's `sync_state` the
generation and the CRM cluster's system identifier it synced under. Then:

- a CRM dump taken before a run's bump carries an older generation than BI recorded for that run, so a CRM
  restored from it (or a replica that had not replayed the bump when it was promoted) reads a generation
  below BI's: BI may hold rows the CRM no longer has, and rows the restore brought back with older
  `updated_at` lie below the watermarks;
- a dump taken after the bump was taken after the run's snapshot, so it holds everything BI got from that
  run (and the tombstones of what was deleted since): incremental runs stay exact from it;
- another system identifier means another cluster (a CRM moved or rebuilt from a dump elsewhere).

Either case makes the run re-copy every table from the CRM as it now is (a full refresh), which removes
what the CRM no longer has and copies back what reappeared; the run's metadata says why.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

import psycopg

from hyperdash_pipeline.backup.manifest import system_identifier
from hyperdash_pipeline.connections import connect


@dataclass(frozen=True)
class CrmIdentity:
    generation: int | None  # None: the CRM has no generation table (not migrated with sql/crm/1001)
    system_identifier: str | None

    @property
    def tracked(self) -> bool:
        return self.generation is not None


def read_crm_identity(crm_conn: psycopg.Connection) -> CrmIdentity:
    """The CRM's generation (as the current snapshot sees it) and its system identifier."""
    present = crm_conn.execute("SELECT to_regclass('hyperdash_sync_generation') IS NOT NULL").fetchone()
    generation = None
    if present == (True,):
        row = crm_conn.execute("SELECT generation FROM hyperdash_sync_generation").fetchone()
        generation = int(row[0]) if row else 0
    return CrmIdentity(generation, system_identifier(crm_conn))


def recorded_identity(bi_conn: psycopg.Connection) -> tuple[int | None, list[str]]:
    """The newest CRM generation BI synced under, and the CRM system identifiers it recorded."""
    row = bi_conn.execute(
        "SELECT max(crm_generation), array_remove(array_agg(DISTINCT crm_system_identifier), NULL) FROM sync_state"
    ).fetchone()
    if row is None:
        return None, []
    return (None if row[0] is None else int(row[0])), list(row[1] or [])


def time_travel_reason(crm: CrmIdentity, bi_generation: int | None, bi_systems: list[str]) -> str | None:
    """Why BI cannot trust its watermarks against this CRM, or None when it can."""
    if crm.system_identifier is not None and bi_systems and crm.system_identifier not in bi_systems:
        return (
            f"the CRM is another PostgreSQL cluster (system identifier {crm.system_identifier}, BI was synced "
            f"from {', '.join(bi_systems)}): restored or moved elsewhere; BI is re-copied from it"
        )
    if crm.generation is not None and bi_generation is not None and crm.generation < bi_generation:
        return (
            f"the CRM went back in time (its sync generation is {crm.generation}, BI already holds data synced "
            f"under generation {bi_generation}: restored from an older backup or failed over to a lagging "
            "replica); BI is re-copied from it"
        )
    return None


def bump_generation(crm_url: str, application_name: str, at_least: int) -> int:
    """Raise the CRM's generation to at least `at_least` in its own short transaction; returns it."""
    with closing(connect(crm_url, "crm", application_name, autocommit=True)) as conn:
        row = conn.execute(
            "INSERT INTO hyperdash_sync_generation AS g (generation) VALUES (%(g)s) "
            "ON CONFLICT (singleton) DO UPDATE SET generation = greatest(g.generation, EXCLUDED.generation), "
            "written_at = clock_timestamp() RETURNING generation",
            {"g": at_least},
        ).fetchone()
    assert row is not None
    return int(row[0])
