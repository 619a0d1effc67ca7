"""`hyperdash sync` whole process, this checkout against another one (a baseline), alternated in one run.

    git worktree add --detach /tmp/baseline main
    .venv/bin/python benchmarks/bench_sync_ab.py --baseline /tmp/baseline --pg-url postgresql://postgres@127.0.0.1:5432/postgres

One CRM of --rows generated leads, mirrored once; then --rounds rounds, each timing both checkouts (the order
alternates from round to round, so a change in the machine's load falls on both alike): `hyperdash sync` with
10,000 leads changed, and `hyperdash sync --always` with nothing changed (a recorded Dagster run, no rows). The
baseline runs with this venv and the other checkout first on PYTHONPATH, so only the project's code differs.
Prints every round, the medians, their ratio and the load average beside each round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sync import _cli, _database_pair, _generate, _server  # noqa: E402
from whole_process import Cli, load  # noqa: E402

from hyperdash_pipeline.connections import connect  # noqa: E402
from hyperdash_pipeline.sync.engine import run_sync  # noqa: E402

APPLICATION = "hyperdash-bench-sync-ab"
CHANGE = "UPDATE leads SET value = value + 1 WHERE id IN (SELECT id FROM leads ORDER BY id OFFSET %s LIMIT 10000)"


def _change(cli: Cli, offset: int) -> None:
    with connect(cli.crm_url, "crm", APPLICATION, autocommit=True) as conn:
        conn.execute(CHANGE, [offset])


def bench(admin_url: str, rows: int, rounds: int, baseline: Path) -> None:
    with _database_pair(admin_url, "ab", application=APPLICATION) as (crm, bi):
        print(f"generating {rows:,} leads ...", file=sys.stderr)
        _generate(crm, rows, application=APPLICATION)
        run_sync(crm, bi)
        with _cli(admin_url, crm, bi) as ours:
            # Both on PYTHONPATH: the checkout this script is in (not the venv's editable install, which may be another)
            variants = {"this checkout": replace(ours, code=ROOT), "baseline": replace(ours, code=baseline)}
            for cli in variants.values():  # one untimed run each: instance tables, .pyc files
                cli.run("sync", "--always", "--quiet")
            times: dict[tuple[str, str], list[float]] = {}
            offset = 0
            print("| round | checkout | 10k changed (s) | --always, nothing changed (s) | load |")
            for round_ in range(rounds):
                order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
                for name in order:
                    cli = variants[name]
                    offset = (offset + 10_000) % max(rows - 10_000, 1)
                    _change(cli, offset)
                    changed = cli.run("sync", "--quiet")[0]
                    always = cli.run("sync", "--always", "--quiet")[0]
                    times.setdefault((name, "changed"), []).append(changed)
                    times.setdefault((name, "always"), []).append(always)
                    print(f"| {round_ + 1} | {name} | {changed:.2f} | {always:.2f} | {load()} |", flush=True)
    print(f"\nmedians of {rounds} rounds, {rows:,} leads:")
    print("| measurement | this checkout | baseline | ratio |")
    labels = {"changed": "hyperdash sync, 10,000 changed", "always": "hyperdash sync --always, no change"}
    for kind, label in labels.items():
        ours_s, base_s = statistics.median(times[("this checkout", kind)]), statistics.median(times[("baseline", kind)])
        print(f"| {label} | {ours_s:.2f} s | {base_s:.2f} s | {ours_s / base_s:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of the project")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-url", help="admin URL of a PostgreSQL server to use instead of an embedded one")
    args = parser.parse_args()
    if not (args.baseline / "hyperdash_pipeline").is_dir():
        parser.error(f"{args.baseline} holds no hyperdash_pipeline package: give a checkout of the project")
    with _server(args.pg_url) as admin_url:
        bench(admin_url, args.rows, args.rounds, args.baseline.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
