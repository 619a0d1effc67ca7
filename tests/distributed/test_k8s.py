"""Kubernetes without a cluster (issue #18): the run pod and the step pods that dagster-k8s itself builds from
deploy/helm/values.yaml and from the k8s executor of hyperdash_pipeline.distributed: our image, the databases
from a Kubernetes secret (never a value in the spec), resources, non-root. No API server is contacted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig, construct_dagster_k8s_job
from kubernetes.client import V1Job

from hyperdash_pipeline.distributed import DATABASES_SECRET, K8S_STEP_RESOURCES, NON_ROOT_UID, k8s_settings
from hyperdash_pipeline.settings import PROJECT_ROOT

VALUES = yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "values.yaml").read_text())
DEPLOYMENT = VALUES["dagster-user-deployments"]["deployments"][0]
IMAGE = f"{DEPLOYMENT['image']['repository']}:{DEPLOYMENT['image']['tag']}"
# A kubeconfig naming an unreachable server: K8sRunLauncher loads one when built, and never calls it here.
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def _snake(value: Any) -> Any:
    """The chart renders runK8sConfig's camelCase keys as the launcher's snake_case config (helm/dagster
    templates/helpers/instance/_run-launcher.tpl); Kubernetes object fields inside stay as the API spells them."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


@pytest.fixture
def launcher(tmp_path: Path) -> K8sRunLauncher:
    """K8sRunLauncher configured as the chart configures it from our values."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    config = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    return K8sRunLauncher(
        service_account_name="hyperdash",
        instance_config_map="hyperdash-instance",
        postgres_password_secret=VALUES["global"]["postgresqlSecretName"],
        dagster_home="/opt/dagster/dagster_home",
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        job_namespace="hyperdash",
        env_secrets=[s["name"] for s in config["envSecrets"]],
        run_k8s_config=_snake(config["runK8sConfig"]),
    )


def _run_context(launcher: K8sRunLauncher) -> K8sContainerContext:
    return K8sContainerContext(
        namespace=launcher.job_namespace,
        env_secrets=launcher.env_secrets,
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(launcher.run_k8s_config or {}),
    )


def _run_pod(launcher: K8sRunLauncher) -> V1Job:
    context = _run_context(launcher)
    return construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-test",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
    )


def _step_pod(launcher: K8sRunLauncher, op: str) -> V1Job:
    """As the k8s_job_executor's step handler merges it: run context, executor config, the op's override."""
    settings = k8s_settings()
    context = (
        _run_context(launcher)
        .merge(
            K8sContainerContext(
                env_secrets=settings["env_secrets"],
                run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(settings["step_k8s_config"]),
            )
        )
        .merge(
            K8sContainerContext(
                run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(settings["per_step_k8s_config"].get(op, {}))
            )
        )
    )
    return construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_step", "{}"],
        job_name=f"dagster-step-{op.replace('_', '-')}",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
    )


def _secret_sources(job: V1Job) -> set[str]:
    container = job.spec.template.spec.containers[0]
    return {source.secret_ref.name for source in container.env_from or [] if source.secret_ref}


def _assert_safe(job: V1Job) -> None:
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert container.image == IMAGE
    assert DATABASES_SECRET in _secret_sources(job)
    assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user == NON_ROOT_UID
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    values = " ".join(str(e.value) for e in container.env or [])
    assert "postgresql://" not in values and "password" not in values.lower(), "a database URL in the pod spec"


def test_run_pod_from_the_helm_values(launcher: K8sRunLauncher) -> None:
    job = _run_pod(launcher)
    _assert_safe(job)
    resources = job.spec.template.spec.containers[0].resources
    assert resources.requests == {"cpu": "250m", "memory": "512Mi"} and resources.limits == {"memory": "1Gi"}
    # The instance's own database password comes from the chart's secret, by reference.
    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == VALUES["global"]["postgresqlSecretName"]


@pytest.mark.parametrize("op", ["lead_attribution", "analytics__markov_attribution", "crm_raw_sync"])
def test_step_pods_get_their_own_resources(launcher: K8sRunLauncher, op: str) -> None:
    job = _step_pod(launcher, op)
    _assert_safe(job)
    resources = job.spec.template.spec.containers[0].resources
    assert resources.requests == K8S_STEP_RESOURCES[op]["requests"]
    assert resources.limits == K8S_STEP_RESOURCES[op]["limits"]


def test_an_op_without_its_own_entry_gets_the_default(launcher: K8sRunLauncher) -> None:
    job = _step_pod(launcher, "correlation_tables")
    _assert_safe(job)
    assert job.spec.template.spec.containers[0].resources.requests == K8S_STEP_RESOURCES["default"]["requests"]


def test_the_k8s_executor_accepts_our_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """HYPERDASH_EXECUTOR=k8s gives every job dagster-k8s's executor, its config valid for its schema."""
    from dagster._config import process_config
    from dagster_k8s import k8s_job_executor

    monkeypatch.setenv("HYPERDASH_EXECUTOR", "k8s")
    from hyperdash_pipeline.distributed import executor

    assert executor() is not None
    result = process_config(k8s_job_executor.config_schema.config_type, k8s_settings())
    assert result.success, result.errors


def test_the_dockerfile_runs_as_the_uid_the_pods_require_with_the_hashed_runtime_lock() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert f"USER {NON_ROOT_UID}:{NON_ROOT_UID}" in dockerfile
    assert "pip install --require-hashes -r requirements/runtime.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    pinned = (PROJECT_ROOT / "requirements" / "runtime.lock").read_text()
    assert "dagster==1.13.27" in pinned and "dagster-k8s==0.29.27" in pinned and "dagster-celery==0.29.27" in pinned
