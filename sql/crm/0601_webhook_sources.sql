-- Lead capture webhook (docs/webhook.md): who may post leads, with which secret, and what was received.
--
-- The CRM has no organizations table; webhook_sources is the list of organizations whose landing
-- pages may post. The secret is stored as the raw key bytes: HMAC verification needs the key itself
-- (a one-way hash of it could not verify anything), so the table is as sensitive as a password file.
-- Nothing but the webhook service and `hyperdash webhook-secret` should read it; PUBLIC gets nothing.
-- On rotation the previous secret stays valid until previous_expires_at so pages already signing
-- with it keep working during the switch.
CREATE TABLE webhook_sources (
    organization_id     uuid PRIMARY KEY,
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    secret              bytea NOT NULL CHECK (octet_length(secret) >= 32),
    previous_secret     bytea CHECK (previous_secret IS NULL OR octet_length(previous_secret) >= 32),
    previous_expires_at timestamptz,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    rotated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
REVOKE ALL ON webhook_sources FROM PUBLIC;

-- One row per accepted post. (organization_id, idempotency_key) makes a retried submission map to
-- the lead it created; (organization_id, signature) makes an exact replay of a signed request
-- recognisable. Rejected posts write nothing here.
CREATE TABLE webhook_requests (
    organization_id uuid NOT NULL REFERENCES webhook_sources (organization_id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    signature       bytea NOT NULL,
    lead_id         uuid NOT NULL,
    body_sha256     bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (organization_id, idempotency_key),
    UNIQUE (organization_id, signature)
);
CREATE INDEX webhook_requests_received_at_idx ON webhook_requests (received_at);

-- The webhook links a lead to the organization's existing contact with the same e-mail address.
CREATE INDEX contacts_org_email_idx ON contacts (organization_id, lower(email)) WHERE deleted_at IS NULL;
