"""The operator commands against a live control plane: tables, --json, exit statuses,
credentials from flags, the environment or a CLI config file; config export."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.control.conftest import Plane

from shieldwall.cli.main import main


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_zone_and_rules_commands(plane: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    auth = ("--api", plane.url, "--token", plane.admin)
    assert await cli("zone", "list", *auth) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "HOSTS", "ORIGINS", "SECURITY"]
    assert out[1].split() == ["alpha", "alpha.test,*.alpha.test", "1", "off"]
    assert (
        await cli(
            "zone", "add", "gamma", "--host", "gamma.test", "--origin", "127.0.0.1:8000", *auth
        )
        == 0
    )
    assert "zone gamma created (config version 2)" in capsys.readouterr().out
    assert (
        await cli("zone", "set", "gamma", "security.level=high", "https_redirect=false", *auth) == 0
    )
    assert await cli("zone", "show", "gamma", "--json", *auth) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["zone"]["security"] == {"level": "high"}
    # refused: the key path and reason on stderr, exit 1, nothing changed
    assert await cli("zone", "set", "gamma", "limits.pool_size=-1", *auth) == 1
    err = capsys.readouterr().err
    assert "HTTP 422" in err and "zones[2].limits.pool_size" in err
    assert await cli("attack-mode", "on", "gamma", *auth) == 0
    assert "security level under_attack" in capsys.readouterr().out
    assert await cli("attack-mode", "off", "gamma", *auth) == 0
    assert "security level high" in capsys.readouterr().out
    assert await cli("rules", "list", "gamma", *auth) == 0
    assert capsys.readouterr().out.split() == ["ID", "ACTION", "EXPRESSION"]
    assert await cli("zone", "delete", "gamma", *auth) == 0
    assert await cli("zone", "show", "gamma", *auth) == 1


async def test_credentials_from_env_and_cli_config(
    plane: Plane,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SHIELDWALL_API", plane.url)
    monkeypatch.setenv("SHIELDWALL_CLI_CONFIG", str(tmp_path / "none.toml"))
    assert await cli("versions", "list") == 1  # no token: 401
    assert "HTTP 401" in capsys.readouterr().err
    token_file = tmp_path / "tok"
    token_file.write_text(plane.admin + "\n")
    conf = tmp_path / "cli.toml"
    conf.write_text(f'token_file = "{token_file}"\n')
    monkeypatch.setenv("SHIELDWALL_CLI_CONFIG", str(conf))
    assert await cli("versions", "list") == 0
    assert "*1" in capsys.readouterr().out
    monkeypatch.setenv("SHIELDWALL_TOKEN", plane.admin)
    monkeypatch.setenv("SHIELDWALL_CLI_CONFIG", str(tmp_path / "none.toml"))
    assert await cli("audit", "--json") == 0
    assert json.loads(capsys.readouterr().out)["entries"][0]["action"] == "config.import"
    monkeypatch.setenv("SHIELDWALL_API", "http://127.0.0.1:1")
    assert await cli("zone", "list") == 2
    assert "cannot reach" in capsys.readouterr().err


async def test_legal_abuse_purge_and_export(
    plane: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = ("--api", plane.url, "--token", plane.admin)
    assert (
        await cli(
            "legal",
            "add",
            "alpha",
            "--authority",
            "Court",
            "--prefix",
            "/x/",
            "--id",
            "o1",
            "--country",
            "DE",
            *auth,
        )
        == 0
    )
    assert "legal order o1 recorded" in capsys.readouterr().out
    assert await cli("legal", "list", *auth) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == ["o1", "alpha", "prefix", "/x/", "DE", "Court", "active"]
    assert await cli("legal", "lift", "o1", "--reason", "done", *auth) == 0
    assert await cli("purge", "alpha", "--url", "https://alpha.test/", *auth) == 1
    assert "no edge is attached" in capsys.readouterr().err
    await plane.call(
        "POST",
        "/abuse",
        {"reporter_email": "a@b.c", "urls": ["http://beta.test/"], "category": "spam"},
        token=None,
    )
    assert await cli("abuse", "list", *auth) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:5] == ["1", "new", "beta", "spam", "a@b.c"]
    assert await cli("abuse", "triage", "1", "--status", "rejected", *auth) == 0
    assert await cli("versions", "diff", "2", *auth) == 0
    assert '+id = "o1"' in capsys.readouterr().out
    out_file = tmp_path / "export.toml"
    assert await cli("config", "export", "-c", str(plane.config_path), "-o", str(out_file)) == 0
    assert out_file.read_text() == plane.plane.service.text
