-- Organizations whose campaign credit totals and Markov transitions must be regrouped from their stored rows.
-- A rebuild of one organization (the rebuild_organization job) replaces the credits and path of a lead that
-- moved to it from another organization, and regroups only its own aggregates: concurrent rebuilds of
-- different organizations never write the same row. The organization the lead left is named here instead,
-- and the next attribution_credits refresh regroups it (without this, its totals and transitions kept the
-- moved lead's old touches until a full rebuild).
CREATE TABLE analytics.attribution_regroup (
    organization_id uuid NOT NULL
);
