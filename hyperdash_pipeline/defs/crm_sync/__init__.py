"""The CRM -> BI mirror: the crm_raw assets, the sync job, its sensor and schedules, the daily reconciliation."""
