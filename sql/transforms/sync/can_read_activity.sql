-- The horizon needs every session's xact_start and backend_xid; PostgreSQL hides them from a role
-- that is neither superuser nor a member of pg_read_all_stats.
SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
FROM pg_roles
WHERE rolname = current_user
