"""The stage tables of a parallel full rebuild: its parts write there, one transaction loads them into place.

The parts (attribution/parallel.py) run the one-session rebuild's own steps, retargeted at copies of each
table's columns, with no index, constraint or trigger to maintain (UNLOGGED, no WAL, unless they become LOGGED
partitions). Writing the parts straight into the indexed tables (upserts and deletes, as an organization's
rebuild does) cost 2.1-2.6x the database CPU of the one-session rebuild and 9x its WAL, which made 2 sessions
slower than one.

Each part has a stage of its own per table: parts appending to one shared stage waited on each other for its
extension lock (one 8 kB block at a time in PostgreSQL 15). Copying lead_attribution (1M rows) in two halves
into one table took as long as one session copying all of it; into two tables, 0.65-0.8 of that.

lead_attribution, the credits and their paths are partitioned by range of lead_id (migrations 1807, 1808), and
the parts are ranges of lead ids: each part also builds its stage's keys, indexes and a CHECK of its range
(seal_as_partition), and one transaction drops the stored partitions and attaches the stages in their place
(replace_partitions), so the copy and the index builds leave the load's one transaction (at 1M leads 5-7 s for
each of the two rebuilds, one core idle). The few other staged tables (the quarantine, the credits' totals and
transitions) are appended or summed into the stored ones by that transaction (load_stage, load_summed).

The stage tables live in `public`, where the analyst role has no default privileges (docs/security.md):
a stage of the quarantine holds rejected payloads, and the attached partitions stay there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psycopg
from psycopg import sql

from hyperdash_pipeline.transforms import scalar

STAGE_PREFIX = "rebuild_stage_"


def _stage_prefix(table: str) -> str:
    schema, name = table.split(".")
    return f"{STAGE_PREFIX}{schema}_{name}_"


def stage_name(table: str, part: int) -> str:
    """The stage of `table` ("schema.table") for part number `part`: public.rebuild_stage_<schema>_<table>_<part>."""
    return f"public.{_stage_prefix(table)}{part}"


def _identifier(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split("."))


@dataclass(frozen=True)
class Stages:
    """The stage tables of `tables`, one per table and part (parts numbered from 0)."""

    tables: tuple[str, ...]
    parts: int

    def of_part(self, part: int) -> dict[str, str]:
        """{table: stage} for part number `part`: Transform.run's `tables` for that part's steps."""
        if not 0 <= part < self.parts:
            raise IndexError(f"part {part} has no stage tables: there are {self.parts} parts")
        return {table: stage_name(table, part) for table in self.tables}

    def of_table(self, table: str) -> list[str]:
        """Every part's stage of `table`, in part order."""
        if table not in self.tables:
            raise KeyError(f"{table} has no stage tables: staged tables are {', '.join(self.tables)}")
        return [stage_name(table, part) for part in range(self.parts)]


@contextmanager
def staged(
    conn: psycopg.Connection, tables: Sequence[str], parts: int, indexed: Sequence[str] = ()
) -> Iterator[Stages]:
    """Empty stage tables for `tables` ("schema.table"), one per table and part, committed so other sessions
    can write them; those of the `indexed` tables keep the table's indexes (a part's upsert needs its unique
    key). UNLOGGED, except the stages of a partitioned table whose partitions were set LOGGED (docs/attribution.md:
    for streaming replicas), which become its partitions. Dropped (committed) afterwards, whether the rebuild
    succeeded or not; stages a crashed process left, whatever its number of parts, are dropped before the new
    ones are made."""
    stages = Stages(tuple(tables), parts)
    try:
        _drop_stages(conn, stages.tables)
        for table in stages.tables:
            like = "INCLUDING DEFAULTS INCLUDING IDENTITY" + (" INCLUDING INDEXES" if table in indexed else "")
            create = "CREATE TABLE" if _logged_partitions(conn, table) else "CREATE UNLOGGED TABLE"
            for stage in stages.of_table(table):
                conn.execute(
                    sql.SQL(create + " {} (LIKE {} " + like + ")").format(_identifier(stage), _identifier(table))
                )
        conn.commit()
        yield stages
    finally:
        # Never hide the rebuild's own error behind the cleanup's (a lost connection): stages left behind are
        # dropped by the next rebuild of the table.
        with suppress(psycopg.Error):
            conn.rollback()
            _drop_stages(conn, stages.tables)
            conn.commit()


def _logged_partitions(conn: psycopg.Connection, table: str) -> bool:
    """True when `table` is partitioned and one of its partitions is LOGGED."""
    return bool(
        scalar(
            conn,
            "SELECT EXISTS (SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass AND c.relpersistence = 'p')",
            (table,),
        )
    )


def _drop_stages(conn: psycopg.Connection, tables: Sequence[str]) -> None:
    """Drop every stage of `tables` in `public`, of any part number (one catalog query for all of them)."""
    found = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN unnest(%(prefixes)s::text[]) AS p (prefix) ON starts_with(c.relname, p.prefix) "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND substr(c.relname, length(p.prefix) + 1) ~ '^[0-9]+$'",
        {"prefixes": [_stage_prefix(table) for table in tables]},
    ).fetchall()
    for (name,) in found:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("public", name)))


@dataclass(frozen=True)
class _Column:
    name: str
    type_name: str  # the catalog's own spelling (format_type), safe to cast to
    identity: bool


def _columns(conn: psycopg.Connection, table: str) -> list[_Column]:
    """The stored columns of `table`, in order, generated ones left out (they cannot be written)."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attidentity <> '' FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (table,),
    ).fetchall()
    return [_Column(name, type_name, identity) for name, type_name, identity in rows]


def _union_of(stages: Sequence[str], listed: sql.Composable) -> sql.Composed:
    """SELECT `listed` from every stage, in order, as one UNION ALL."""
    return sql.SQL(" UNION ALL ").join(sql.SQL("SELECT {} FROM {}").format(listed, _identifier(s)) for s in stages)


def load_stage(conn: psycopg.Connection, stages: Sequence[str], table: str) -> int:
    """Append every row of the `stages` (in their order) to `table`; the rows loaded. The caller holds the
    transaction, emptied the table and dropped its indexes (bulk_load). An identity column is left to the
    table: each stage numbered its rows from a sequence of its own."""
    listed = sql.SQL(", ").join(sql.Identifier(c.name) for c in _columns(conn, table) if not c.identity)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("INSERT INTO {} ({}) ").format(_identifier(table), listed) + _union_of(stages, listed))
        return cur.rowcount


def load_summed(conn: psycopg.Connection, stages: Sequence[str], table: str, keys: Sequence[str]) -> int:
    """Append to `table` one row per distinct `keys` found in the `stages`, every other column summed over the
    stages and cast back to its type: totals that each part counted over its own rows, added up (a NULL key
    is one group, as in GROUP BY). Returns the rows appended."""
    columns = _columns(conn, table)
    missing = set(keys) - {c.name for c in columns}
    if missing:
        raise ValueError(f"{table} has no column {', '.join(sorted(missing))} to group its stages by")
    listed = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    values = sql.SQL(", ").join(
        sql.Identifier(c.name)
        if c.name in keys
        else sql.SQL("sum({})::").format(sql.Identifier(c.name)) + sql.SQL(c.type_name)
        for c in columns
    )
    grouped = sql.SQL(", ").join(sql.Identifier(key) for key in keys)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM ({}) AS parts GROUP BY {}").format(
                _identifier(table), listed, values, _union_of(stages, listed), grouped
            )
        )
        return cur.rowcount


# The name of the CHECK a stage carries until it is attached (it lets ATTACH PARTITION skip its scan).
_BOUND_CHECK = "partition_bound"


def seal_as_partition(conn: psycopg.Connection, stage: str, table: str, check: sql.Composable) -> None:
    """Make a filled stage of the partitioned `table` ready to be attached as its partition, in the part's own
    transaction (so the parts do it side by side): `table`'s keys and indexes, each built once over the stage,
    its CHECK constraints, and `check` (the partition's constraint, LeadRange.partition_check). The load then
    attaches it as it is. Foreign keys are left to the attach: adding one locks the referenced table against the
    other parts' inserts into it (SHARE ROW EXCLUSIVE), so two parts would wait on each other."""
    relation = _identifier(stage)
    for definition in _stage_constraints(conn, table):
        conn.execute(sql.SQL("ALTER TABLE {} ADD ").format(relation) + sql.SQL(definition))
    for number, method_and_columns in enumerate(_plain_indexes(conn, table)):
        # Named after the stage: names PostgreSQL makes up from the columns collide between parts running at once.
        index = sql.Identifier(f"{stage.split('.')[1]}_index_{number}")
        unique = method_and_columns.startswith("UNIQUE ")
        create = sql.SQL("CREATE UNIQUE INDEX {} ON {} USING " if unique else "CREATE INDEX {} ON {} USING ")
        conn.execute(create.format(index, relation) + sql.SQL(method_and_columns.removeprefix("UNIQUE ")))
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(relation, sql.Identifier(_BOUND_CHECK)) + check)


def _stage_constraints(conn: psycopg.Connection, table: str) -> list[str]:
    """`table`'s primary key, unique and CHECK constraints as `ADD` clauses (a CHECK keeps its name: attaching
    matches them by name)."""
    rows = conn.execute(
        "SELECT CASE WHEN contype = 'c' THEN format('CONSTRAINT %%I ', conname) ELSE '' END"
        " || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'c') ORDER BY contype DESC, conname",
        (table,),
    ).fetchall()
    if not rows:
        raise ValueError(f"{table} has no primary key for its stages to copy")
    return [definition for (definition,) in rows]


def _plain_indexes(conn: psycopg.Connection, table: str) -> list[str]:
    """`table`'s indexes that back no constraint, each as "[UNIQUE ]<method> (<columns>)[ WHERE ...]": its
    definition after `USING`, to build on a stage."""
    rows = conn.execute(
        "SELECT CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END"
        " || substr(pg_get_indexdef(i.indexrelid), strpos(pg_get_indexdef(i.indexrelid), ' USING ') + 7)"
        " FROM pg_index i WHERE i.indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)"
        " ORDER BY i.indexrelid",
        (table,),
    ).fetchall()
    return [definition for (definition,) in rows]


def replace_partitions(conn: psycopg.Connection, table: str, stages: Sequence[tuple[str, sql.Composable]]) -> None:
    """In the caller's transaction: drop every partition of `table` and attach each sealed stage (seal_as_partition)
    with its bound (`FROM (..) TO (..)`) in their place, renamed <table>_<n> in `public` (with their indexes named
    as the table's, <table>_<n>_pkey for <table>_pkey), then ANALYZE it (PostgreSQL 15 analyses the partitions
    with it: a part's own ANALYZE would be done twice). Attaching validates `table`'s foreign keys on each stage.
    Readers wait on the lock until the commit and then see the new partitions only."""
    parent = _identifier(table)
    name = table.split(".")[1]
    old = conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", (table,)
    ).fetchall()
    for (partition,) in old:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(partition)))  # regclass text: already quoted
    for number, (stage, bound) in enumerate(stages):
        relation = _identifier(stage)
        conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES ").format(parent, relation) + bound)
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(relation, sql.Identifier(_BOUND_CHECK)))
        partition = f"{name}_{number}"
        _rename_indexes(conn, stage, name, partition)
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(relation, sql.Identifier(partition)))
    conn.execute(sql.SQL("ANALYZE {}").format(parent))


def _rename_indexes(conn: psycopg.Connection, stage: str, name: str, partition: str) -> None:
    """Name each index of an attached stage after the partitioned index it is now a partition of, with the table's
    name `name` replaced by the partition's: <table>_pkey becomes <partition>_pkey."""
    attached = conn.execute(
        "SELECT i.inhrelid::regclass::text, p.relname FROM pg_inherits i"
        " JOIN pg_index x ON x.indexrelid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE x.indrelid = %s::regclass",
        (stage,),
    ).fetchall()
    for index, parent_index in attached:
        suffix = parent_index.removeprefix(name) if parent_index.startswith(name) else f"_{parent_index}"
        renamed = sql.Identifier(f"{partition}{suffix}")
        conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.SQL(index), renamed))  # regclass text: quoted
