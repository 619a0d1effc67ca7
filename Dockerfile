# The code location image: the user-code deployment, every run pod and every step pod (deploy/helm/values.yaml).
# Slim, non-root, dependencies installed exactly as locked in requirements/runtime.lock: every file checked
# against its sha256 (--require-hashes), and the project built with the locked setuptools (no build isolation,
# so nothing unhashed is downloaded).
#   docker build -t hyperdash-pipeline:dev .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md LICENSE dagster.yaml workspace.yaml ./
COPY hyperdash_pipeline hyperdash_pipeline
COPY sql sql
# The package reaches sql/ and dagster.yaml through symlinks: a regular (non-editable) install copies them.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . && /opt/venv/bin/pip check

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DAGSTER_HOME=/opt/dagster/home
RUN groupadd --gid 10001 hyperdash \
 && useradd --uid 10001 --gid hyperdash --no-create-home --shell /usr/sbin/nologin hyperdash \
 && mkdir -p /opt/dagster/home && chown hyperdash:hyperdash /opt/dagster/home
COPY --from=build /opt/venv /opt/venv
COPY --chown=hyperdash:hyperdash deploy/celery/dagster.yaml /opt/dagster/home/dagster.yaml
# The code location finds its defs folder through pyproject.toml ([tool.dg.project]); the install has no source tree.
COPY pyproject.toml /opt/hyperdash/pyproject.toml
ENV HYPERDASH_PROJECT_ROOT=/opt/hyperdash
USER 10001:10001
WORKDIR /opt/dagster/home
EXPOSE 3030
# The Helm chart overrides this with `dagster api grpc` for the user-code deployment.
CMD ["dagster", "api", "grpc", "--module-name", "hyperdash_pipeline.definitions", "--host", "0.0.0.0", "--port", "3030"]
