-- Deals from the plan: about one lead in ten has one, a fifth of those a second (an upsell or a
-- renewal). Won and lost deals carry closed_at; open ones do not. Amounts are in the organization's
-- currency; the lead's status and updated_at were derived from these same draws in the plan.

INSERT INTO deals (id, organization_id, lead_id, contact_id, title, stage, amount, currency,
                   closed_at, created_at, updated_at)
SELECT pg_temp.sample_uuid(p.seed, 'deal', l.i * 2 + d.k), l.org_id,
       l.lead_id,
       l.contact_id,
       CASE d.k WHEN 1 THEN (ARRAY['Annual plan', 'Monthly plan', 'Premium package', 'Starter package'])
                            [1 + floor(pg_temp.sample_u(p.seed, 50, l.i) * 4)::integer]
                ELSE (ARRAY['Upgrade', 'Renewal', 'Add-on'])[1 + floor(pg_temp.sample_u(p.seed, 51, l.i) * 3)::integer]
       END,
       d.stage, d.amount, l.currency, d.closed_at, d.created_at, coalesce(d.closed_at, d.created_at)
FROM sample_lead_plan l
CROSS JOIN sample_params p
CROSS JOIN LATERAL (VALUES (1, l.deal1_stage, l.deal1_amount, l.deal1_created_at, l.deal1_closed_at),
                           (2, l.deal2_stage, l.deal2_amount, l.deal2_created_at, l.deal2_closed_at))
           AS d (k, stage, amount, created_at, closed_at)
WHERE d.k <= l.deals;
