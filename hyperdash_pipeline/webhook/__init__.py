"""Lead capture webhook: signed landing-page posts written into the CRM (docs/webhook.md)."""
