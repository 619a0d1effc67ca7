#!/usr/bin/env python3
"""The README's commands, for a fresh machine with nothing but Python 3.11+.

    python3 tasks.py demo    # create .venv, install, run `hyperdash demo` on the embedded PostgreSQL
    python3 tasks.py test    # create .venv, install with the dev extra, run the test suite
    python3 tasks.py lock    # re-resolve requirements/dev.lock and runtime.lock from pyproject.toml (keeps pins;
                             #   `lock --upgrade` takes the newest releases, `lock --upgrade-package NAME` one)
    python3 tasks.py audit   # known vulnerabilities in both locks (pip-audit, PyPI's advisory data); CI runs it
                             #   `audit --strict` also fails when a locked release could not be audited

Anything after the task name is passed on (`python3 tasks.py test -k sync`, `python3 tasks.py demo --leads 5000`).
The venv gets exactly requirements/dev.lock (`pip install --require-hashes`), then the project itself,
editable, without dependencies and without build isolation (so nothing unhashed is downloaded). It is
reinstalled only when pyproject.toml or the lock changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("HYPERDASH_VENV", ROOT / ".venv"))
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".hyperdash-installed"
REQUIREMENTS = ROOT / "requirements"
RUNTIME_LOCK = REQUIREMENTS / "runtime.lock"
DEV_LOCK = REQUIREMENTS / "dev.lock"
INSTALL_TOOLS = REQUIREMENTS / "install-tools.in"
AUDIT_IGNORE = REQUIREMENTS / "audit-ignore.toml"
LOCKED_PYTHON = "3.11"  # the oldest Python the locks resolve for (requires-python); newer ones get markers
PYPI_JSON = "https://pypi.org/pypi"


def _rel(path: Path) -> str:
    """A path as commands and messages show it: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _run(*args: str | Path) -> None:
    """Run a command in the checkout; on failure exit with the command (its own error is printed above)."""
    command = [str(a) for a in args]
    returncode = subprocess.run(command, cwd=ROOT).returncode
    if returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed (exit {returncode}); see its error above")


def install_commands(python: Path = PYTHON) -> list[list[str]]:
    """What ensure_venv runs: the dev lock with hashes, then the project alone, then pip's consistency check."""
    pip = [str(python), "-m", "pip"]
    return [
        [*pip, "install", "--quiet", "--require-hashes", "-r", _rel(DEV_LOCK)],
        # The build backend (setuptools) came from the lock: no isolated build env fetching unhashed packages.
        [*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", "."],
        [*pip, "check"],
    ]


def _install_digest() -> str:
    digest = hashlib.sha256()
    for part in (ROOT / "pyproject.toml", DEV_LOCK):
        digest.update(part.read_bytes())
    digest.update(repr(install_commands()).encode())
    return digest.hexdigest()


def ensure_venv(*, check: bool = True) -> Path:
    """Create the venv and install the dev lock and the project when pyproject.toml or the lock changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py runs on whatever python3 the machine has
        sys.exit(f"hyperdash needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    digest = _install_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return PYTHON
    print("installing hyperdash-pipeline and its locked dependencies (first run takes a minute or two)", flush=True)
    install, project, consistency = install_commands()
    _run(*install)
    built = subprocess.run(project, cwd=ROOT, capture_output=True, text=True)  # setuptools' editable-install banner
    if built.returncode != 0:
        sys.exit(f"installing the project failed:\n{built.stdout}{built.stderr}")
    checked = subprocess.run(consistency, cwd=ROOT, capture_output=True, text=True)
    if check and checked.returncode != 0:
        sys.exit(
            f"{checked.stdout}{_rel(DEV_LOCK)} does not satisfy pyproject.toml (pip check above): "
            "run `python3 tasks.py lock` and commit the locks"
        )
    STAMP.write_text(digest if check else "")
    return PYTHON


def lock_commands(uv: Path, uv_args: list[str] | None = None) -> list[list[str]]:
    """uv resolutions of both locks: universal (Linux, macOS, Windows; Python 3.11+), every file's sha256.

    The dev lock first; the runtime lock is constrained to it, so the image runs the versions the tests ran.
    Existing pins are kept unless `uv_args` asks otherwise (`--upgrade`, `--upgrade-package NAME`)."""
    common = [
        str(uv), "pip", "compile", "--quiet", "--universal", "--python-version", LOCKED_PYTHON,
        "--generate-hashes", "--no-strip-extras", "--custom-compile-command", "python3 tasks.py lock",
        *(uv_args or []), "pyproject.toml", _rel(INSTALL_TOOLS),
    ]  # fmt: skip
    dev, runtime = _rel(DEV_LOCK), _rel(RUNTIME_LOCK)
    return [[*common, "--extra", "dev", "-o", dev], [*common, "-c", dev, "-o", runtime]]


def lock(uv_args: list[str]) -> int:
    """Re-resolve both locks from pyproject.toml; the next task reinstalls the venv from them."""
    python = ensure_venv(check=False)  # uv comes from the (possibly stale) dev lock
    for command in lock_commands(python.parent / "uv", uv_args):
        _run(*command)
    print(f"wrote {_rel(DEV_LOCK)} and {_rel(RUNTIME_LOCK)}: review the diff, then commit")
    return 0


def audit_ignores(path: Path = AUDIT_IGNORE) -> dict[str, dict[str, str]]:
    """The accepted advisories by id, each with its package and reason; an entry without them is an error."""
    entries = tomllib.loads(path.read_text()).get("ignore", [])
    ignores: dict[str, dict[str, str]] = {}
    for number, entry in enumerate(entries, start=1):
        missing = [key for key in ("id", "package", "reason") if not str(entry.get(key, "")).strip()]
        if missing:
            raise ValueError(
                f"{path.name}: [[ignore]] entry {number} has no {', '.join(missing)}: "
                "every accepted advisory names its id, its package and why it does not affect us"
            )
        ignores[entry["id"]] = entry
    return ignores


@dataclass(frozen=True)
class Pin:
    """One requirement of a lock: `name[extras]==version ; marker` and the sha256 of every file it may install."""

    name: str
    extras: tuple[str, ...]
    version: str
    marker: str
    hashes: tuple[str, ...]


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    lines = (line.split("#")[0].strip() for line in joined.splitlines())  # no "#" inside a pin, marker or hash
    return [line for line in lines if line]


def locked_pins(path: Path) -> list[Pin]:
    """Every requirement of a lock written by `python3 tasks.py lock`; a line not `name==version` is an error."""
    pins = []
    for line in _logical_lines(path.read_text()):
        found = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?==(\S+)\s*(?:;\s*(.*?))?\s*((?:--hash=\S+\s*)*)", line)
        if not found:
            raise ValueError(
                f"{path.name}: not an exact pin: {line[:80]!r}; regenerate it with `python3 tasks.py lock`"
            )
        name, extras, version, marker, hashes = found.groups()
        pins.append(
            Pin(
                name=name.lower(),
                extras=tuple(e.strip() for e in (extras or "").split(",") if e.strip()),
                version=version,
                marker=marker or "",
                hashes=tuple(h.removeprefix("--hash=") for h in hashes.split()),
            )
        )
    return pins


def audit_rounds(locks: list[Path]) -> list[dict[str, Pin]]:
    """Each locked (name, version) once, whatever its markers (another OS or Python still gets it), split so that
    no round names a package twice (pip-audit refuses that: numpy may be locked at one release per Python)."""
    rounds: list[dict[str, Pin]] = []
    seen: set[tuple[str, str]] = set()
    for pin in (pin for lock in locks for pin in locked_pins(lock)):
        if (pin.name, pin.version) in seen:
            continue
        seen.add((pin.name, pin.version))
        free = next((r for r in rounds if pin.name not in r), None)
        if free is None:
            free = {}
            rounds.append(free)
        free[pin.name] = pin
    return rounds


def audit_command(python: Path, requirements: Path, report: Path, ignores: dict[str, dict[str, str]]) -> list[str]:
    """pip-audit over pinned, hashed requirements as written (no resolver, no pip), against PyPI's advisory data."""
    command = [
        str(python.parent / "pip-audit"), "--vulnerability-service", "pypi", "--disable-pip", "--require-hashes",
        "--progress-spinner", "off", "--aliases", "on", "--format", "json", "--output", str(report),
        "-r", str(requirements),
    ]  # fmt: skip
    for advisory in ignores:
        command += ["--ignore-vuln", advisory]
    return command


def _requirements_text(pins: dict[str, Pin]) -> str:
    return "".join(f"{p.name}=={p.version} " + " ".join(f"--hash={h}" for h in p.hashes) + "\n" for p in pins.values())


def _run_pip_audit(python: Path, pins: dict[str, Pin], ignores: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        requirements, report = Path(tmp) / "locked.txt", Path(tmp) / "audit.json"
        requirements.write_text(_requirements_text(pins))
        command = audit_command(python, requirements, report, ignores)
        pip_audit = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if not report.exists():
            raise RuntimeError(f"pip-audit failed (exit {pip_audit.returncode}): {pip_audit.stderr.strip()[-2000:]}")
        dependencies: list[dict[str, Any]] = json.loads(report.read_text())["dependencies"]
    for dep in dependencies:  # a skipped dependency comes back without its version
        dep.setdefault("version", pins[dep["name"].lower()].version)
    return dependencies


def _newest_release_advisories(name: str) -> tuple[str, list[dict[str, Any]]] | None:
    """PyPI's project JSON: its newest release and that release's advisories (None when unreachable)."""
    try:
        with urllib.request.urlopen(f"{PYPI_JSON}/{name}/json", timeout=30) as response:
            data = json.load(response)
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None
    vulns = [{"id": v["id"], "aliases": v.get("aliases") or [], "fix_versions": v.get("fixed_in") or []}
             for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]  # fmt: skip
    return data["info"]["version"], vulns


def _fill_from_newest_release(dependencies: list[dict[str, Any]]) -> None:
    """Where pip-audit got no per-release data (a network that serves only PyPI's project JSON), use the
    project JSON's advisories for each locked release that is the newest one."""
    for dep in dependencies:
        if not (dep.get("skip_reason") and "not found on PyPI" in dep["skip_reason"]):
            continue
        newest = _newest_release_advisories(dep["name"])
        if newest is None:
            dep["skip_reason"] = "PyPI's advisory data could not be reached"
        elif newest[0].lower() != dep["version"].lower():
            dep["skip_reason"] = f"PyPI's per-release advisory data unreachable here; its newest release is {newest[0]}"
        else:
            dep.pop("skip_reason")
            dep["vulns"], dep["newest_release_data"] = newest[1], True


def _is_ignored(vuln: dict[str, Any], ignores: dict[str, dict[str, str]]) -> bool:
    return any(alias in ignores for alias in [vuln["id"], *vuln.get("aliases", [])])


def summarize_audit(
    dependencies: list[dict[str, Any]], ignores: dict[str, dict[str, str]], *, strict: bool = False
) -> tuple[list[str], int]:
    """Report lines and the exit code: 1 when a locked release has an advisory not in the ignore list
    (and, when strict, when a release could not be audited)."""
    lines = [f"accepted  {a['package']}  {a['id']}: {a['reason']}" for a in ignores.values()]
    found = 0
    for dep in dependencies:
        reported: set[str] = set()  # one advisory may come under its PYSEC and its GHSA id, each naming the other
        for vuln in dep.get("vulns", []):
            if _is_ignored(vuln, ignores) or vuln["id"] in reported:
                continue
            reported.update([vuln["id"], *vuln.get("aliases", [])])
            found += 1
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
            lines.append(f"VULNERABLE  {dep['name']}=={dep['version']}  {vuln['id']}  fixed in: {fixes}")
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    for dep in skipped:
        lines.append(f"not audited  {dep['name']}=={dep['version']}: {dep['skip_reason']}")
    newest = sum(1 for dep in dependencies if dep.get("newest_release_data"))
    lines.append(
        f"audit: {len(dependencies) - len(skipped)} locked releases audited ({newest} of them through PyPI's "
        f"newest-release data), {found} with a known vulnerability not accepted, {len(skipped)} without advisory data"
    )
    if found:
        lines.append(
            "upgrade it (`python3 tasks.py lock --upgrade-package NAME`) or, if it cannot affect us, "
            "accept it with a reason in requirements/audit-ignore.toml"
        )
    return lines, 1 if found or (strict and skipped) else 0


def audit(strict: bool) -> int:
    """pip-audit over every release in both locks; exit 1 on a known vulnerability not in the ignore list."""
    python = ensure_venv()
    try:
        ignores = audit_ignores()
        dependencies = [
            dep for pins in audit_rounds([RUNTIME_LOCK, DEV_LOCK]) for dep in _run_pip_audit(python, pins, ignores)
        ]
    except (ValueError, RuntimeError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 1
    _fill_from_newest_release(dependencies)
    lines, code = summarize_audit(dependencies, ignores, strict=strict)
    print("\n".join(lines))
    return code


def main(argv: list[str]) -> int:
    task, *rest = argv or ["help"]
    if task == "demo":
        ensure_venv()
        return subprocess.call([str(VENV / "bin" / "hyperdash"), "demo", *rest], cwd=ROOT)
    if task == "test":
        python = ensure_venv()
        return subprocess.call([str(python), "-m", "pytest", *rest], cwd=ROOT)
    if task == "lock":
        return lock(rest)
    if task == "audit":
        return audit(strict="--strict" in rest)
    print(__doc__)
    return 0 if task in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
