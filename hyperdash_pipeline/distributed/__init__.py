"""Distributed execution on existing engines (docs/distributed.md).

`HYPERDASH_EXECUTOR=celery` makes every job (launched from the CLI, the UI or the daemon) hand its steps to
Celery workers started with `hyperdash worker`; the broker is `HYPERDASH_CELERY_BROKER` (Redis by default,
RabbitMQ works the same). `HYPERDASH_EXECUTOR=k8s` runs each step in its own Kubernetes pod (dagster-k8s's
k8s_job_executor, deploy/helm/values.yaml), with the resources below. Unset, every job runs its steps in
its run's own process.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import ExecutorDefinition, in_process_executor

EXECUTOR_VAR = "HYPERDASH_EXECUTOR"
BROKER_VAR = "HYPERDASH_CELERY_BROKER"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
ANALYTICS_JOB_NAME = "analytics_rebuild"
# The Kubernetes secret holding CRM_DATABASE_URL and BI_DATABASE_URL (deploy/helm/values.yaml).
DATABASES_SECRET = "hyperdash-databases"
NON_ROOT_UID = 10001  # the Dockerfile's user
# Pod resources per step (op name); others get "default". The attribution rebuilds hold up to 4 BI sessions
# (their parallelism) but spend the CPU on the BI server: the pod itself needs little. Markov solves one matrix
# per organization and dimension in numpy; the sync streams bytes (42 MB peak RSS at 1 M rows).
K8S_STEP_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "default": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "crm_raw_sync": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "lead_attribution": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "analytics__attribution_credits": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "analytics__markov_attribution": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
}


def celery_settings() -> dict[str, Any]:
    """The Celery executor's config, shared by the jobs (submit side) and `hyperdash worker` (consume side).

    Results travel back over the broker itself when it is Redis (a Redis result backend); with RabbitMQ
    they use Celery's rpc:// backend (reply queues on the same broker).
    """
    broker = os.environ.get(BROKER_VAR) or DEFAULT_BROKER
    backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    return {
        "broker": broker,
        "backend": backend,
        # One step per worker process at a time; a step is minutes of SQL, not a burst of tiny tasks.
        "config_source": {"worker_prefetch_multiplier": 1, "broker_connection_retry_on_startup": True},
    }


def _container(resources: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "resources": resources,
        "security_context": {"allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def k8s_settings() -> dict[str, Any]:
    """The k8s_job_executor's config: the databases' secret, non-root pods, resources per step."""
    return {
        "max_concurrent": 4,
        "env_secrets": [DATABASES_SECRET],
        "step_k8s_config": {
            "container_config": _container(K8S_STEP_RESOURCES["default"]),
            "pod_spec_config": {
                "security_context": {"run_as_non_root": True, "run_as_user": NON_ROOT_UID, "run_as_group": NON_ROOT_UID}
            },
        },
        "per_step_k8s_config": {
            op: {"container_config": {"resources": resources}}
            for op, resources in K8S_STEP_RESOURCES.items()
            if op != "default"
        },
    }


def executor() -> ExecutorDefinition:
    """The executor HYPERDASH_EXECUTOR names (celery, k8s); in process when unset.

    In process rather than Dagster's multiprocess default: an automation run's chain of analytics
    steps then costs one process, not one re-import of Dagster and the Definitions per step."""
    choice = (os.environ.get(EXECUTOR_VAR) or "").strip().lower()
    if not choice:
        return in_process_executor
    if choice == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_settings())
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_settings())
    raise ValueError(f"{EXECUTOR_VAR}={choice!r} is not supported: set it to 'celery' or 'k8s', or leave it unset")
