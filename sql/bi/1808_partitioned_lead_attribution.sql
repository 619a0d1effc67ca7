-- public.lead_attribution partitioned by range of lead_id, as the credits and paths are (migration 1807; issue #18).
-- Why: a parallel full rebuild's parts wrote stage tables that one transaction then copied into this table
-- and indexed again: 5-6 s at 1M leads with one core idle, the largest serial step left in the rebuild. Now its
-- parts are ranges of lead ids too; each indexes its own stage and the load attaches the stages as the
-- partitions (attribution/staging.py).
-- A unique key of a partitioned table must hold the partition key, so the primary key is (id, lead_id): id is
-- the lead's id for every row the pipeline writes (the seed's random default stays for other writers), lead_id
-- keeps its own unique index, and lookups by id still use the key's leading column.
-- The partitions are LOGGED, as the table was; they live in `public` beside it. The analyst role reads the
-- table (granted by `hyperdash roles`), not its partitions: the grants and the owner are carried over here.
-- Until the first parallel rebuild there is one partition holding every lead id.

ALTER TABLE public.lead_attribution RENAME TO lead_attribution_unpartitioned;
ALTER INDEX public.lead_attribution_pkey RENAME TO lead_attribution_unpartitioned_pkey;
ALTER INDEX public.lead_attribution_lead_id_key RENAME TO lead_attribution_unpartitioned_lead_id_key;
ALTER INDEX public.lead_attribution_campaign_idx RENAME TO lead_attribution_unpartitioned_campaign_idx;
ALTER TABLE public.lead_attribution_unpartitioned
    RENAME CONSTRAINT lead_attribution_organization_id_fkey TO lead_attribution_unpartitioned_organization_id_fkey;

CREATE TABLE public.lead_attribution (
    LIKE public.lead_attribution_unpartitioned INCLUDING DEFAULTS INCLUDING COMMENTS,
    CONSTRAINT lead_attribution_pkey PRIMARY KEY (id, lead_id),
    CONSTRAINT lead_attribution_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations (id)
) PARTITION BY RANGE (lead_id);
CREATE UNIQUE INDEX lead_attribution_lead_id_key ON public.lead_attribution (lead_id);
CREATE INDEX lead_attribution_campaign_idx ON public.lead_attribution (organization_id, campaign_id);
CREATE TABLE public.lead_attribution_0 PARTITION OF public.lead_attribution FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO public.lead_attribution SELECT * FROM public.lead_attribution_unpartitioned;

DO $$
DECLARE
    old CONSTANT regclass := 'public.lead_attribution_unpartitioned'::regclass;
    granted record;
BEGIN
    EXECUTE format('ALTER TABLE public.lead_attribution OWNER TO %I',
                   (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = old));
    FOR granted IN
        SELECT a.privilege_type, a.grantee, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) AS a
        WHERE c.oid = old AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON public.lead_attribution TO %s%s',
                       granted.privilege_type,
                       CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(granted.grantee)) END,
                       CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

DROP TABLE public.lead_attribution_unpartitioned;
ANALYZE public.lead_attribution;
