"""`hyperdash worker`: a Celery worker that executes the steps of this code location's jobs."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.distributed import BROKER_VAR, celery_settings
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.settings import redact

# The module dagster_celery.make_app imports for its settings when found on the path.
CONFIG_MODULE = "dagster_celery_config"


def write_celery_config(directory: Path) -> Path:
    """dagster_celery_config.py in `directory`: the broker, result backend and worker settings of the jobs."""
    settings = celery_settings()
    lines = [f"broker_url = {settings['broker']!r}", f"result_backend = {settings['backend']!r}"]
    lines += [f"{key} = {value!r}" for key, value in settings["config_source"].items()]
    path = directory / f"{CONFIG_MODULE}.py"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def worker_command(name: str, concurrency: int, loglevel: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "dagster_celery.app",
        "worker",
        "--queues",
        "dagster",
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        loglevel,
    ]


def _worker(args: argparse.Namespace) -> int:
    export_database_urls()  # the steps' resources read CRM_DATABASE_URL and BI_DATABASE_URL
    prepare_dagster_home()
    config_dir = Path(tempfile.mkdtemp(prefix="hyperdash-celery-"))
    write_celery_config(config_dir)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config_dir), env.get("PYTHONPATH", "")) if p)
    command = worker_command(args.name, args.concurrency, args.loglevel)
    broker = celery_settings()["broker"]
    print(f"hyperdash worker {args.name}: consuming queue 'dagster' on {redact(broker)}", file=sys.stderr, flush=True)
    os.execvpe(command[0], command, env)  # the worker replaces this process: signals reach Celery itself
    return 0  # pragma: no cover - execvpe does not return


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker",
        help="start a Celery worker executing job steps (jobs use it when HYPERDASH_EXECUTOR=celery)",
        description=f"Broker: {BROKER_VAR} (default redis://127.0.0.1:6379/0; amqp://guest@host:5672// for RabbitMQ).",
    )
    parser.add_argument("--name", default=f"hyperdash-{os.getpid()}", help="worker name (Celery node name prefix)")
    parser.add_argument("--concurrency", type=int, default=1, help="steps this worker runs at once (processes)")
    parser.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=_worker)
