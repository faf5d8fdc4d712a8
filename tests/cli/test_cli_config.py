"""``shieldwall config validate``/``config docs``, ``run`` on a bad config: output, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shieldwall.cli.main import main
from shieldwall.config.reference import render_markdown

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shieldwall.toml"
BAD = """\
workers = 0
[[listeners]]
port = 70000
[[zones]]
name = "a"
hosts = ["a.example"]
[[zones.origins]]
host = "10.0.0.1"
prot = 80
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    return path


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert out == "OK: 2 zones, 1 listener\n"
    assert err == ""


def test_validate_reports_every_error_with_path(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "validate", str(bad_file)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{bad_file}: listeners[0].port: must be between 1 and 65535, got 70000",
        f"{bad_file}: workers: must be between 1 and 1024, got 0",
        f"{bad_file}: zones[0].origins[0].prot: unknown key; did you mean 'port'?",
        f"{bad_file}: 3 errors",
    ]


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["config", "validate", str(missing)]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"cannot read {missing}: No such file or directory",
        f"{missing}: 1 error",
    ]


def test_validate_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text("workers = = 1\n")
    assert main(["config", "validate", str(path)]) == 1
    _, err = capsys.readouterr()
    assert err.startswith(f"{path}: invalid TOML: ")
    assert "line 1" in err


def test_run_refuses_bad_config_with_exit_2(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-c", str(bad_file)]) == 2
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == f"shieldwall: invalid configuration in {bad_file}:"
    assert f"  {bad_file}: workers: must be between 1 and 1024, got 0" in lines
    assert len(lines) == 4


def test_config_docs_prints_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "docs"]) == 0
    assert capsys.readouterr().out == render_markdown()


def test_validate_as_subprocess(bad_file: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "shieldwall", "config", "validate", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "OK: 2 zones, 1 listener\n", "")
    bad = subprocess.run(
        [sys.executable, "-m", "shieldwall", "config", "validate", str(bad_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert f"{bad_file}: workers: must be between 1 and 1024, got 0" in bad.stderr.splitlines()
