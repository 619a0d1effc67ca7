"""The house's layout holds: every Dagster object under hyperdash_pipeline/defs/<concern>/, imports only downwards.

Layers, top to bottom: the CLI (`cli.py` files, `commands/`, `demo.py`) -> the code location
(`definitions.py`, `defs/`) -> plain Python (engines, clients, services, settings). A module may import its own
layer and the ones below, never one above. The code location loads from an installed copy too (the image).
The tests mirror it: tests/<concern>/test_*.py, shared helpers in tests/support/, no test importing another.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hyperdash_pipeline.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "hyperdash_pipeline"
TESTS = PROJECT_ROOT / "tests"
# Test folders for concerns that declare no Dagster object (the others are named as in hyperdash_pipeline/defs/).
PLAIN_TEST_CONCERNS = {"webhook", "security", "project"}
DECLARING_DECORATORS = {
    "asset",
    "multi_asset",
    "asset_check",
    "multi_asset_check",
    "sensor",
    "schedule",
    "job",
    "op",
    "graph",
    "graph_asset",
    "observable_source_asset",
}
DECLARING_CALLS = {
    "Definitions",
    "define_asset_job",
    "ScheduleDefinition",
    "SensorDefinition",
    "AutomationConditionSensorDefinition",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    """2: the CLI, 1: the code location, 0: plain Python."""
    parts = name.split(".")
    if parts[-1] == "cli" or name in {"hyperdash_pipeline.demo"} or parts[1:2] == ["commands"]:
        return 2
    if parts[1:2] in (["definitions"], ["defs"]):
        return 1
    return 0


def modules() -> dict[str, ast.Module]:
    found = {module_name(path): ast.parse(path.read_text(), str(path)) for path in PACKAGE.rglob("*.py")}
    assert "hyperdash_pipeline.definitions" in found and len(found) > 50
    return found


def callee(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def dagster_declarations(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            found += [f"@{callee(d)} {node.name}" for d in node.decorator_list if callee(d) in DECLARING_DECORATORS]
        elif isinstance(node, ast.Call) and callee(node) in DECLARING_CALLS:
            found.append(f"{callee(node)}(...) line {node.lineno}")
    return found


def imported(tree: ast.Module, name: str) -> set[str]:
    """Every hyperdash_pipeline module `tree` imports (a `from package import module` names the module)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else ".".join([*name.split(".")[: -node.level], node.module])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("hyperdash_pipeline")}


def test_dagster_objects_are_declared_only_under_defs() -> None:
    misplaced = {
        name: found for name, tree in modules().items() if layer(name) != 1 if (found := dagster_declarations(tree))
    }
    assert misplaced == {}, "declare these in hyperdash_pipeline/defs/<concern>/"


def test_the_defs_folder_holds_only_dagster_objects_of_its_concern() -> None:
    """Plain code (engines, SQL runners, clients) stays below: a defs module declares something or wires it."""
    concerns = {p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert {"crm_sync", "ad_platforms", "attribution", "correlation", "reporting", "backups"} <= concerns
    for concern in concerns:
        files = [p for p in (PACKAGE / "defs" / concern).glob("*.py") if p.name != "__init__.py"]
        assert files, concern
        for path in files:
            assert dagster_declarations(ast.parse(path.read_text())), f"{path} declares no Dagster object"


def test_no_import_runs_up_a_layer() -> None:
    found = modules()
    upward = sorted(
        f"{name} imports {target}"
        for name, tree in found.items()
        for target in imported(tree, name)
        if target in found and layer(target) > layer(name)
    )
    assert upward == []


def test_the_code_location_loads_from_an_installed_copy_with_its_project_root(tmp_path: Path) -> None:
    """The Docker image installs the package without its source tree: HYPERDASH_PROJECT_ROOT names the folder
    holding pyproject.toml, and without it the error says so."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "hyperdash_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", config / "pyproject.toml")
    script = (
        "from hyperdash_pipeline.definitions import defs; import hyperdash_pipeline as p; "
        "print(p.__file__); print(len(defs.resolve_asset_graph().get_all_asset_keys()))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HYPERDASH_PROJECT_ROOT": str(config)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    where, count = done.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(site)) and int(count) >= 20

    env.pop("HYPERDASH_PROJECT_ROOT")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "set HYPERDASH_PROJECT_ROOT" in done.stderr


@pytest.mark.parametrize(
    "line", ["COPY pyproject.toml /opt/hyperdash/pyproject.toml", "HYPERDASH_PROJECT_ROOT=/opt/hyperdash"]
)
def test_the_image_points_the_code_location_at_its_pyproject(line: str) -> None:
    assert line in (PROJECT_ROOT / "Dockerfile").read_text()


def test_every_test_module_lives_in_a_concern_folder() -> None:
    """tests/<concern>/test_*.py, one level deep, <concern> named as in defs/ (or a plain concern), each folder
    a package so that pytest imports tests.<concern>.test_x by its full name."""
    defs_concerns = {p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and not p.name.startswith("_")}
    test_files = sorted(TESTS.rglob("test_*.py"))
    assert len(test_files) > 50
    misplaced = [str(p.relative_to(TESTS)) for p in test_files if p.parent.parent != TESTS]
    assert misplaced == [], "move these into tests/<concern>/"
    folders = {p.parent for p in test_files}
    unknown = sorted(f.name for f in folders if f.name not in defs_concerns | PLAIN_TEST_CONCERNS)
    assert unknown == [], "name a test folder after its concern in hyperdash_pipeline/defs/ (or add a plain concern)"
    assert sorted(f.name for f in folders if not (f / "__init__.py").is_file()) == []


def test_no_test_module_imports_another_or_conftest() -> None:
    """What tests share is in tests/support/; a test module (or a helper) never imports a test module or conftest."""
    offending = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(alias.name for alias in node.names)]
            else:
                continue
            parts = {part for name in names for part in name.split(".")}
            if any(part == "conftest" or part.startswith("test_") for part in parts):
                offending.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offending == [], "move what these import into tests/support/"


def test_the_docs_name_only_test_files_that_exist() -> None:
    """A `tests/.../x.py` named in the README, the docs, CI, the chart or a docstring is a file in the checkout."""
    sources = [PROJECT_ROOT / name for name in ("README.md", "SECURITY.md", "pyproject.toml", "tasks.py")]
    sources += [*(PROJECT_ROOT / "docs").rglob("*.md"), *(PROJECT_ROOT / ".ci").iterdir()]
    sources += [*(PROJECT_ROOT / "deploy").rglob("*.yaml"), *PACKAGE.rglob("*.py"), *TESTS.rglob("*.py")]
    sources += [*(PROJECT_ROOT / "benchmarks").glob("*.py")]
    missing = sorted(
        f"{path.relative_to(PROJECT_ROOT)} names {name}"
        for path in sources
        if path.is_file()
        for name in set(re.findall(r"\btests/[\w/]+\.py\b", path.read_text()))
        if not (PROJECT_ROOT / name).is_file()
    )
    assert missing == []
