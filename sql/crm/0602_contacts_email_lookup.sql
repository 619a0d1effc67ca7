-- One index leads with contacts.organization_id, so the planner cannot pick the wrong one.
--
-- With both (organization_id) and the partial (organization_id, lower(email)) index, a webhook post for an
-- organization the statistics have not seen yet (a new customer on a large CRM) was planned on
-- (organization_id) with the e-mail as a filter: every post re-read all of that organization's contacts, so
-- the cost per lead grew with every lead it had already accepted. This index answers the e-mail lookup in one
-- probe, already in the webhook's (created_at, id) order, and still serves "the contacts of an organization".
-- Non-partial so it covers deleted contacts too, as the index it replaces did.
CREATE INDEX contacts_org_email_lookup_idx ON contacts (organization_id, lower(email), created_at, id);
DROP INDEX contacts_org_email_idx;
DROP INDEX contacts_organization_id_idx;
