"""The issue's alternative, measured: dlt's sql_database source into its postgres destination, beside our sync.

    python3 -m venv /tmp/dltvenv && /tmp/dltvenv/bin/pip install "dlt[postgres,sql_database]" psycopg2-binary
    .venv/bin/python benchmarks/bench_dlt.py --dlt-python /tmp/dltvenv/bin/python \
        --pg-url postgresql://postgres:unused@127.0.0.1:5432/postgres [--rows 1000000]

dlt is not a dependency of this project, so it runs from its own virtualenv (`--dlt-python`). In one run, on
the same generated `leads` (benchmarks/sql/generate_leads.sql) and the same server: the raw psql COPY pipe, our
full sync (`run_sync`, in its own process), and a dlt pipeline (`sql_table("leads")` → `postgres`, replace
mode, dlt's default backend, in its own process). Prints wall time, peak RSS and the ratio to the pipe.
dlt's postgres destination needs a TCP host and a password in its credentials (with trust authentication any
password does), so --pg-url names a server reachable over TCP; the embedded server listens on a socket only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sync import _database_pair, _generate, _pipe, _psql, _reset_mirror, _server, _sync_child

from hyperdash_pipeline.connections import connect

APPLICATION = "hyperdash-bench-dlt"

# Run by --dlt-python: load public.leads of argv[1] (a SQLAlchemy URL: SQLAlchemy 2.1 would pick psycopg 3 for a
# bare postgresql://, and the install above has psycopg2) into the dataset dlt_leads of argv[2] (a libpq URL).
_DLT_CHILD = """
import sys, time
import dlt
from dlt.sources.sql_database import sql_table

source_url, destination_url, workdir = sys.argv[1:4]
pipeline = dlt.pipeline(
    pipeline_name="hyperdash_bench_dlt",
    destination=dlt.destinations.postgres(destination_url),
    dataset_name="dlt_leads",
    pipelines_dir=workdir,
)
started = time.monotonic()
pipeline.run(sql_table(credentials=source_url, table="leads"), write_disposition="replace")
print(time.monotonic() - started)
"""


def _dlt_child(dlt_python: str, crm: str, bi: str) -> tuple[float, float, float]:
    """(seconds inside pipeline.run, wall seconds, peak RSS MB) of the dlt load in its own process."""
    with tempfile.TemporaryDirectory(prefix="hyperdash-dlt-") as workdir:
        started = time.monotonic()
        env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"}
        child = subprocess.Popen(
            [dlt_python, "-c", _DLT_CHILD, crm.replace("postgresql://", "postgresql+psycopg2://", 1), bi, workdir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        assert child.stdout is not None and child.stderr is not None
        output, errors = child.stdout.read().decode(), child.stderr.read().decode()
    if status != 0:
        raise RuntimeError(f"the dlt pipeline failed: {errors[-2000:]}")
    return float(output.strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dlt-python", required=True, help="python of a virtualenv where dlt is installed")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", required=True, help="admin URL (TCP host and a password) of the server to use")
    args = parser.parse_args()
    if not Path(args.dlt_python).exists():
        parser.error(f"--dlt-python {args.dlt_python} does not exist: create it as the docstring shows")
    with _server(args.pg_url) as admin_url, _database_pair(admin_url, "dlt", application=APPLICATION) as (crm, bi):
        print(f"generating {args.rows:,} leads ...", flush=True)
        _generate(crm, args.rows, application=APPLICATION)
        _reset_mirror(bi, application=APPLICATION)
        pipe = _pipe(_psql(), crm, bi, application=APPLICATION)
        _reset_mirror(bi, application=APPLICATION)
        ours, ours_wall, ours_rss = _sync_child(crm, bi)
        dlt_seconds, dlt_wall, dlt_rss = _dlt_child(args.dlt_python, crm, bi)
        with connect(bi, "bi", APPLICATION) as conn:
            row = conn.execute("SELECT count(*) FROM dlt_leads.leads").fetchone()
        if row != (args.rows,):
            raise RuntimeError(f"dlt loaded {row} rows into BI dlt_leads.leads, expected {args.rows}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.rows:,} leads, {os.cpu_count()} CPUs, load average {load} at the end")
    table = [
        ("raw psql COPY pipe", pipe, ""),
        ("hyperdash full sync (engine)", ours, f"{ours_rss:6.0f} MB"),
        ("dlt sql_table -> postgres (run)", dlt_seconds, f"{dlt_rss:6.0f} MB"),
    ]
    print(f"| {'what':<40} | {'seconds':>8} | {'vs pipe':>8} | {'peak RSS':>9} |")
    for name, seconds, rss in table:
        print(f"| {name:<40} | {seconds:8.2f} | {seconds / pipe:7.2f}x | {rss:>9} |")
    print(f"(process wall time: ours {ours_wall:.2f} s, dlt {dlt_wall:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
