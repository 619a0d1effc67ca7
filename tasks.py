#!/usr/bin/env python3
"""The README's two commands, for a fresh machine with nothing but Python 3.11+.

    python3 tasks.py demo    # create .venv, install, run `hyperdash demo` on the embedded PostgreSQL
    python3 tasks.py test    # create .venv, install with the dev extra, run the test suite

Anything after the task name is passed on (`python3 tasks.py test -k sync`, `python3 tasks.py demo --leads 5000`).
The venv is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("HYPERDASH_VENV", ROOT / ".venv"))
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".hyperdash-installed"


def _run(*args: str | Path) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def ensure_venv() -> Path:
    """Create the venv and install the project (editable, with the dev extra) when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py runs on whatever python3 the machine has
        sys.exit(f"hyperdash needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != digest:
        print("installing hyperdash-pipeline and its dependencies (first run takes a minute or two)", flush=True)
        _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        STAMP.write_text(digest)
    return PYTHON


def main(argv: list[str]) -> int:
    task, *rest = argv or ["help"]
    if task == "demo":
        ensure_venv()
        return subprocess.call([str(VENV / "bin" / "hyperdash"), "demo", *rest], cwd=ROOT)
    if task == "test":
        python = ensure_venv()
        return subprocess.call([str(python), "-m", "pytest", *rest], cwd=ROOT)
    print(__doc__)
    return 0 if task in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
