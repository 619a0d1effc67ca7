-- One statement, so one transaction: record the request, find or create the contact, create the lead.
-- When (organization_id, idempotency_key) or (organization_id, signature) already exists the request
-- row is not inserted, every later step selects FROM request and so does nothing, and no row returns.
WITH request AS (
    INSERT INTO webhook_requests (organization_id, idempotency_key, signature, lead_id, body_sha256)
    VALUES (%(organization_id)s, %(idempotency_key)s, %(signature)s, gen_random_uuid(), %(body_sha256)s)
    ON CONFLICT DO NOTHING
    RETURNING lead_id
),
existing_contact AS (
    SELECT c.id
    FROM contacts AS c
    WHERE %(email)s::text IS NOT NULL
      AND c.organization_id = %(organization_id)s
      AND lower(c.email) = lower(%(email)s::text)
      AND c.deleted_at IS NULL
    ORDER BY c.created_at, c.id
    LIMIT 1
),
new_contact AS (
    INSERT INTO contacts (organization_id, name, email, phone)
    SELECT %(organization_id)s, %(name)s::text, %(email)s::text, %(phone)s::text
    FROM request
    WHERE NOT EXISTS (SELECT 1 FROM existing_contact)
    RETURNING id
),
lead AS (
    INSERT INTO leads (
        id, organization_id, contact_id, name, email, phone,
        campaign_id, ad_id, ad_set_id,
        utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        gclid, fbclid, touchpoints
    )
    SELECT
        request.lead_id, %(organization_id)s,
        coalesce((SELECT id FROM existing_contact), (SELECT id FROM new_contact)),
        %(name)s::text, %(email)s::text, %(phone)s::text,
        %(campaign_id)s::text, %(ad_id)s::text, %(ad_set_id)s::text,
        %(utm_source)s::text, %(utm_medium)s::text, %(utm_campaign)s::text,
        %(utm_content)s::text, %(utm_term)s::text,
        %(gclid)s::text, %(fbclid)s::text, %(touchpoints)s::jsonb
    FROM request
    RETURNING id
)
SELECT id FROM lead
