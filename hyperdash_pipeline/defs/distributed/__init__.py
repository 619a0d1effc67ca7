"""The analytics_rebuild job and the executor every job uses (in-process, Celery or Kubernetes)."""
