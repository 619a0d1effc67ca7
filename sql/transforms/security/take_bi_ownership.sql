-- The BI writer takes ownership of the tables (partitions included), views, free-standing sequences (owned ones
-- follow their table) and functions of BI's schemas. {owner} is the writer's role name, a literal filled in by
-- hyperdash_pipeline.security.roles (psycopg.sql), never user text.
DO $$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT format('ALTER %s %s OWNER TO %I',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                      c.oid::regclass, {owner}) AS statement
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'crm_raw', 'analytics') AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> {owner}
          -- Owned sequences and the like follow their table. A partition (an automatic dependency of its
          -- partitioned table) does not: its owner is its own, and the refresh drops and attaches partitions. A
          -- partitioned table depends on its own key columns.
          AND (c.relispartition
               OR NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                          AND d.refobjid <> c.oid AND d.deptype IN ('a', 'i')))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, {owner})
        FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('public', 'crm_raw', 'analytics') AND pg_get_userbyid(p.proowner) <> {owner}
          AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                                       AND d.deptype = 'e')
    LOOP
        EXECUTE target.statement;
    END LOOP;
END;
$$
