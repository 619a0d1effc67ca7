-- The sales team's follow-up on the leads: tasks (about 0.3 per lead, the first one tied to the
-- lead's first deal when it has one), notes (one per lead with deals, plus some) and activities
-- (0 to 2 per lead). All of it happens after the lead arrived and before today.

INSERT INTO tasks (id, organization_id, lead_id, deal_id, contact_id, title, due_at, completed_at,
                   created_at, updated_at)
SELECT t.id, t.org_id, t.lead_id, t.deal_id, t.contact_id, t.title,
       t.created_at + (1 + floor(t.u_due * 5)) * interval '1 day',
       t.completed_at, t.created_at, coalesce(t.completed_at, t.created_at)
FROM (
    SELECT pg_temp.sample_uuid(p.seed, 'task', l.i * 2 + k)                         AS id,
           l.org_id,
           l.lead_id                                 AS lead_id,
           CASE WHEN k = 1 AND l.deals > 0 THEN pg_temp.sample_uuid(p.seed, 'deal', l.i * 2 + 1) END AS deal_id,
           l.contact_id AS contact_id,
           (ARRAY['Call back', 'Send proposal', 'Follow up on WhatsApp', 'Schedule a demo', 'Confirm payment'])
               [1 + floor(pg_temp.sample_u(p.seed, 60 + k, l.i) * 5)::integer]     AS title,
           created.at                                                               AS created_at,
           pg_temp.sample_u(p.seed, 62 + k, l.i)                                    AS u_due,
           CASE WHEN pg_temp.sample_u(p.seed, 64 + k, l.i) < 0.7
                THEN pg_temp.sample_after(created.at, p.window_end, 5 * 86400, pg_temp.sample_u(p.seed, 66 + k, l.i))
           END                                                                      AS completed_at
    FROM sample_lead_plan l
    CROSS JOIN sample_params p
    CROSS JOIN LATERAL (VALUES (1), (2)) AS n (k)
    CROSS JOIN LATERAL (SELECT pg_temp.sample_after(l.created_at, p.window_end, 2 * 86400,
                                                    pg_temp.sample_u(p.seed, 68 + k, l.i)) AS at) AS created
    WHERE k <= CASE WHEN l.u_tasks < 0.75 THEN 0 WHEN l.u_tasks < 0.95 THEN 1 ELSE 2 END
) AS t;

INSERT INTO notes (id, organization_id, lead_id, deal_id, contact_id, body, created_at, updated_at)
SELECT pg_temp.sample_uuid(p.seed, 'note', l.i * 2 + k), l.org_id,
       l.lead_id,
       CASE WHEN k = 1 AND l.deals > 0 THEN pg_temp.sample_uuid(p.seed, 'deal', l.i * 2 + 1) END,
       l.contact_id,
       CASE WHEN k = 1 AND l.deals > 0
            THEN 'Proposal: ' || l.deal1_amount || ' ' || l.currency || '.'
            ELSE (ARRAY['Asked about pricing.', 'Prefers WhatsApp over calls.', 'Comparing with a competitor.',
                        'Wants to start next month.', 'Came from a referral.'])
                 [1 + floor(pg_temp.sample_u(p.seed, 70, l.i) * 5)::integer]
       END,
       at.at, at.at
FROM sample_lead_plan l
CROSS JOIN sample_params p
CROSS JOIN LATERAL (VALUES (1), (2)) AS n (k)
CROSS JOIN LATERAL (SELECT CASE WHEN k = 1 AND l.deals > 0 THEN l.deal1_created_at
                                ELSE pg_temp.sample_after(l.created_at, p.window_end, 7 * 86400,
                                                          pg_temp.sample_u(p.seed, 71, l.i)) END AS at) AS at
WHERE k <= (l.deals > 0)::integer + l.extra_note::integer;

INSERT INTO activities (id, organization_id, lead_id, contact_id, kind, occurred_at, created_at, updated_at)
SELECT pg_temp.sample_uuid(p.seed, 'activity', l.i * 2 + k), l.org_id,
       l.lead_id,
       l.contact_id,
       (ARRAY['page_view', 'email', 'call', 'whatsapp', 'meeting'])
           [1 + floor(pg_temp.sample_u(p.seed, 72 + k, l.i) * 5)::integer],
       at.at, at.at, at.at
FROM sample_lead_plan l
CROSS JOIN sample_params p
CROSS JOIN LATERAL (VALUES (1), (2)) AS n (k)
CROSS JOIN LATERAL (SELECT pg_temp.sample_after(l.created_at, p.window_end, 10 * 86400,
                                                pg_temp.sample_u(p.seed, 74 + k, l.i)) AS at) AS at
WHERE k <= l.activities;
