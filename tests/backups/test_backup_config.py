"""Backup settings out of bounds are refused with the setting and the fix named: no traceback, no file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperdash_pipeline.backup.archive import DIRECTORY_VAR, ROOT_VAR, BackupConfigError, backup_directory
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, HOME_VAR

_UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"  # a bad setting must be refused before any connection


def _backup(home: Path, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in (DIRECTORY_VAR, ROOT_VAR)}
    environ = {**inherited, HOME_VAR: str(home), CRM_URL_VAR: _UNREACHABLE, BI_URL_VAR: _UNREACHABLE, **env}
    command = [sys.executable, "-m", "hyperdash_pipeline.cli", "backup", "--database", "crm", *options]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)


def _written(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_a_backup_dir_that_climbs_out_of_the_home_is_refused(home_dir: Path) -> None:
    outside = home_dir.parent / f"escape-{home_dir.name}"
    done = _backup(home_dir, **{DIRECTORY_VAR: str(home_dir / ".." / outside.name)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{DIRECTORY_VAR} (" in done.stderr and "outside the allowed backup root" in done.stderr
    assert f"set {ROOT_VAR}" in done.stderr
    assert not outside.exists()


def test_a_symlink_out_of_the_root_is_refused(home_dir: Path, tmp_path: Path) -> None:
    (home_dir / "backups-link").symlink_to(tmp_path, target_is_directory=True)
    done = _backup(home_dir, "--directory", str(home_dir / "backups-link"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--directory (" in done.stderr and f"resolves to {tmp_path.resolve()}" in done.stderr
    assert _written(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--keep", "0"], "argument --keep: '0' is not a whole number >= 1"),
        (["--keep", "-3"], "argument --keep: '-3' is not a whole number >= 1"),
        (["--max-age-days", "0"], "argument --max-age-days: '0' is not a positive number of days"),
        (["--max-age-days", "-1"], "argument --max-age-days: '-1' is not a positive number of days"),
        (["--max-age-days", "nan"], "argument --max-age-days: 'nan' is not a positive number of days"),
    ],
)
def test_retention_below_one_backup_or_a_day_is_refused(home_dir: Path, options: list[str], named: str) -> None:
    done = _backup(home_dir, *options)
    assert done.returncode == 2 and named in done.stderr and "Traceback" not in done.stderr
    assert _written(home_dir) == []


def test_the_root_is_home_by_default_and_can_be_set(
    home_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOME_VAR, str(home_dir))
    monkeypatch.delenv(DIRECTORY_VAR, raising=False)
    monkeypatch.delenv(ROOT_VAR, raising=False)
    assert backup_directory() == home_dir.resolve() / "backups"
    assert backup_directory(str(home_dir / "x" / ".." / "nightly")) == home_dir.resolve() / "nightly"
    with pytest.raises(BackupConfigError, match=r"the `directory` run config .* outside the allowed backup root"):
        backup_directory(str(tmp_path / "disk"))
    monkeypatch.setenv(ROOT_VAR, str(tmp_path))
    assert backup_directory(str(tmp_path / "disk")) == tmp_path.resolve() / "disk"
    with pytest.raises(BackupConfigError, match="the default HYPERDASH_HOME/backups"):
        backup_directory()  # the root moved elsewhere: HYPERDASH_BACKUP_DIR must say where under it
