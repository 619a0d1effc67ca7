-- Collapsed attribution path of every lead and the Markov transition counts they add up to, kept
-- incrementally by the attribution_credits refresh so markov_attribution never rescans all credits.

CREATE TABLE analytics.attribution_paths (
    lead_id         uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    converted       boolean NOT NULL,   -- at least one won deal when the path was computed
    channels        text[] NOT NULL,    -- oldest first
    campaigns       text[] NOT NULL
);

CREATE TABLE analytics.markov_transitions (
    organization_id uuid NOT NULL,
    dimension       text NOT NULL CHECK (dimension IN ('channel', 'campaign')),
    from_state      text NOT NULL,      -- (start) or a touch
    to_state        text NOT NULL,      -- a touch, (conversion) or (null)
    transitions     bigint NOT NULL,
    PRIMARY KEY (organization_id, dimension, from_state, to_state)
);
