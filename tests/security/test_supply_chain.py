"""Supply chain: the locks pin every dependency with hashes, tasks.py and the image install only from them,
and the vulnerability audit fails on an advisory nobody accepted. Offline and fast: no resolver, no network."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tasks
from hyperdash_pipeline.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV = RUNTIME + [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
BUILD = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
LOCKS = {"runtime": (tasks.RUNTIME_LOCK, RUNTIME), "dev": (tasks.DEV_LOCK, DEV)}


def _pins(lock: Path) -> dict[str, list[tasks.Pin]]:
    pins: dict[str, list[tasks.Pin]] = {}
    for pin in tasks.locked_pins(lock):
        pins.setdefault(canonicalize_name(pin.name), []).append(pin)
    return pins


def _applies_here(pin: tasks.Pin) -> bool:
    return not pin.marker or Marker(pin.marker).evaluate()


@pytest.mark.parametrize("which", sorted(LOCKS))
def test_every_declared_dependency_is_locked_at_a_release_its_specifier_allows(which: str) -> None:
    lock, declared = LOCKS[which]
    pins = _pins(lock)
    for requirement in [*declared, *BUILD]:
        locked = pins.get(canonicalize_name(requirement.name))
        assert locked, f"{requirement} (pyproject.toml) is missing from {lock.name}: run `python3 tasks.py lock`"
        for pin in locked:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{lock.name} pins {pin.name}=={pin.version}, outside pyproject's {requirement}"
            )
            assert set(requirement.extras) <= set(pin.extras), f"{lock.name} lost the extras of {requirement}"


@pytest.mark.parametrize("which", sorted(LOCKS))
def test_the_extras_we_ask_for_are_locked_too(which: str) -> None:
    """psycopg[binary] is useless without psycopg-binary: each extra's own requirements are in the lock."""
    lock, declared = LOCKS[which]
    pins = _pins(lock)
    for requirement in (r for r in declared if r.extras):
        for extra in requirement.extras:
            for line in importlib.metadata.requires(requirement.name) or []:
                needed = Requirement(line)
                if needed.marker and needed.marker.evaluate({"extra": extra}) and not needed.marker.evaluate():
                    assert canonicalize_name(needed.name) in pins, f"{requirement}: {needed.name} not in {lock.name}"


@pytest.mark.parametrize("which", sorted(LOCKS))
def test_every_locked_requirement_is_an_exact_pin_with_sha256_hashes(which: str) -> None:
    lock, _ = LOCKS[which]
    pins = tasks.locked_pins(lock)
    assert len(pins) > 100
    for pin in pins:
        assert pin.hashes, f"{pin.name}=={pin.version} in {lock.name} has no --hash"
        for digest in pin.hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{pin.name}: {digest!r} is not a sha256"


def test_a_lock_line_without_an_exact_pin_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "bad.lock"
    lock.write_text("requests>=2 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(ValueError, match=r"bad\.lock: not an exact pin: 'requests>=2.*python3 tasks\.py lock"):
        tasks.locked_pins(lock)


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    """The image runs exactly the releases the test suite ran."""
    runtime, dev = _pins(tasks.RUNTIME_LOCK), _pins(tasks.DEV_LOCK)
    for name, pins in runtime.items():
        assert [p.version for p in pins] == [p.version for p in dev.get(name, [])], name
    for tool in ("pytest", "ruff", "mypy", "pip-audit", "uv", "playwright"):
        assert tool in dev and tool not in runtime


def test_the_dagster_family_is_locked_at_one_release() -> None:
    (core,) = [r for r in RUNTIME if r.name == "dagster"]
    version = str(core.specifier).removeprefix("==")
    _, minor, patch = version.split(".")
    library = f"0.{int(minor) + 16}.{patch}"  # dagster 1.13.27 ships its libraries as 0.29.27
    family = {name: pins for name, pins in _pins(tasks.DEV_LOCK).items() if name.startswith("dagster")}
    assert len(family) >= 10
    for name, pins in family.items():
        assert [p.version for p in pins] in ([version], [library]), f"{name} is not dagster {version}/{library}"


def test_tasks_installs_the_dev_lock_with_hashes_then_the_project_alone() -> None:
    lock_install, project, check = tasks.install_commands(Path("/venv/bin/python"))
    assert lock_install[1:4] == ["-m", "pip", "install"]
    assert "--require-hashes" in lock_install
    assert lock_install[lock_install.index("-r") + 1] == "requirements/dev.lock"
    assert {"--no-deps", "--no-build-isolation", "-e"} <= set(project) and project[-1] == "."
    assert check[-1] == "check"


def test_the_locks_are_universal_hashed_and_the_runtime_one_follows_the_dev_one() -> None:
    dev, runtime = tasks.lock_commands(Path("uv"))
    for command in (dev, runtime):
        assert {"--universal", "--generate-hashes", "pyproject.toml", "requirements/install-tools.in"} <= set(command)
        assert command[command.index("--python-version") + 1] == "3.11" == PYPROJECT["project"]["requires-python"][2:]
    assert dev[dev.index("--extra") + 1] == "dev" and dev[-2:] == ["-o", "requirements/dev.lock"]
    assert runtime[runtime.index("-c") + 1] == "requirements/dev.lock" and runtime[-2:] == [
        "-o",
        "requirements/runtime.lock",
    ]
    for lock in (tasks.RUNTIME_LOCK, tasks.DEV_LOCK):
        assert lock.read_text().splitlines()[1] == "#    python3 tasks.py lock", f"{lock.name} says how to remake it"


def test_the_venv_is_reinstalled_when_the_lock_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tasks._install_digest()
    changed = tmp_path / "dev.lock"
    changed.write_text(tasks.DEV_LOCK.read_text().replace("==", "===", 1))
    monkeypatch.setattr(tasks, "DEV_LOCK", changed)
    assert tasks._install_digest() != before


def test_this_venv_holds_the_locked_releases() -> None:
    """What `python3 tasks.py test` installed: every dev-lock pin for this platform, at its locked version."""
    for name, pins in _pins(tasks.DEV_LOCK).items():
        for pin in filter(_applies_here, pins):
            assert importlib.metadata.version(name) == pin.version, (
                f"{name} is not at its locked {pin.version}: `python3 tasks.py test` reinstalls the venv from the lock"
            )


def test_the_build_backend_comes_from_the_locks() -> None:
    tools = [Requirement(line) for line in tasks._logical_lines(tasks.INSTALL_TOOLS.read_text())]
    assert {r.name for r in BUILD} <= {r.name for r in tools}, "install-tools.in must list pyproject's build-system"


def test_every_accepted_advisory_names_its_package_and_reason() -> None:
    for advisory, entry in tasks.audit_ignores().items():
        assert re.fullmatch(r"(PYSEC|GHSA|CVE|OSV)-[\w-]+", advisory), advisory
        assert len(entry["reason"].split()) >= 5, f"{advisory}: say why it cannot affect us"


def test_an_accepted_advisory_without_a_reason_is_refused(tmp_path: Path) -> None:
    ignores = tmp_path / "audit-ignore.toml"
    ignores.write_text('[[ignore]]\nid = "GHSA-aaaa-bbbb-cccc"\npackage = "requests"\n')
    with pytest.raises(ValueError, match=r"entry 1 has no reason"):
        tasks.audit_ignores(ignores)


def _vulnerable(advisory: str, *aliases: str) -> list[dict[str, Any]]:
    vuln = {"id": advisory, "aliases": list(aliases), "fix_versions": ["2.32.4"]}
    return [{"name": "requests", "version": "2.31.0", "vulns": [vuln]}, {"name": "idna", "version": "3.7", "vulns": []}]


def test_the_audit_fails_on_a_known_vulnerability_nobody_accepted() -> None:
    lines, code = tasks.summarize_audit(_vulnerable("PYSEC-2024-1"), {})
    assert code == 1
    assert "VULNERABLE  requests==2.31.0  PYSEC-2024-1  fixed in: 2.32.4" in lines
    assert "1 with a known vulnerability not accepted" in lines[-2]


def test_an_advisory_under_two_ids_is_reported_once() -> None:
    dependencies = _vulnerable("PYSEC-2024-1", "GHSA-9hjg-9r4m-mvj7")
    dependencies[0]["vulns"].append({"id": "GHSA-9hjg-9r4m-mvj7", "aliases": ["PYSEC-2024-1"], "fix_versions": []})
    lines, code = tasks.summarize_audit(dependencies, {})
    assert code == 1 and sum(line.startswith("VULNERABLE") for line in lines) == 1


def test_an_accepted_advisory_passes_by_any_of_its_ids() -> None:
    accepted = {"GHSA-9hjg-9r4m-mvj7": {"id": "GHSA-9hjg-9r4m-mvj7", "package": "requests", "reason": "r"}}
    lines, code = tasks.summarize_audit(_vulnerable("PYSEC-2024-1", "GHSA-9hjg-9r4m-mvj7"), accepted)
    assert code == 0 and not any(line.startswith("VULNERABLE") for line in lines)
    assert lines[0] == "accepted  requests  GHSA-9hjg-9r4m-mvj7: r"


def test_a_release_without_advisory_data_fails_only_a_strict_audit() -> None:
    skipped = [{"name": "dagster", "version": "1.13.27", "skip_reason": "Dependency not found on PyPI"}]
    assert tasks.summarize_audit(skipped, {})[1] == 0
    assert tasks.summarize_audit(skipped, {}, strict=True)[1] == 1


def test_the_audit_covers_every_locked_release_once_per_round() -> None:
    """numpy is locked at one release per Python: pip-audit refuses a name twice, so each gets its own round."""
    rounds = tasks.audit_rounds([tasks.RUNTIME_LOCK, tasks.DEV_LOCK])
    audited = {(pin.name, pin.version) for r in rounds for pin in r.values()}
    locked = {
        (pin.name, pin.version) for lock in (tasks.RUNTIME_LOCK, tasks.DEV_LOCK) for pin in tasks.locked_pins(lock)
    }
    assert audited == locked
    assert sum(len(r) for r in rounds) == len(locked)


def test_ci_runs_the_audit() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py audit" in ci
