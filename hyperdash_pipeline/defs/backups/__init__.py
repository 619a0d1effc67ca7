"""CRM and BI backups, their schedules and the weekly restore drill."""
