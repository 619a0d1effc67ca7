-- Close the receipt bypass (docs/security.md#the-receipt-bypass).
--
-- 0101's trigger skipped itself for any session that ran `SET hyperdash.receipt = 'on'`, and any CRM
-- session may set a custom setting: an edit made that way kept its updated_at and its
-- attribution_synced flag, so it never reached BI. The skip now also needs the session's role to be a
-- member of hyperdash_receipt, a role without login that `hyperdash roles apply` grants to the sync's
-- role only (superusers are members of every role). The setting stays: it is what keeps the receipt of
-- a million leads from paying the trigger's jsonb comparison per row, and pg_has_role is a cached
-- membership look-up. Creating the role needs CREATEROLE once; a DBA may create it beforehand
-- (`hyperdash roles apply --print-sql` prints the statement).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hyperdash_receipt') THEN
        CREATE ROLE hyperdash_receipt NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a concurrent migration of another database on this server
END;
$$;

DROP TRIGGER leads_touch_updated_at ON leads;
CREATE TRIGGER leads_touch_updated_at BEFORE UPDATE ON leads
    FOR EACH ROW
    WHEN (current_setting('hyperdash.receipt', true) IS DISTINCT FROM 'on'
          OR NOT pg_has_role('hyperdash_receipt', 'MEMBER'))
    EXECUTE FUNCTION hyperdash_leads_touch_updated_at();
