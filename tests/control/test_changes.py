"""The change pipeline: validation by the real decoder (422 + key paths, nothing changed),
edge refusals, versions (list/get/diff/rollback), generic sub-resources, attack mode, and an
audit entry with actor, client IP and diff for each change."""

from __future__ import annotations

import sqlite3

import pytest
from tests.control.conftest import Plane

from shieldwall.control.bootstrap import bootstrap
from shieldwall.errors import ConfigError, ConfigErrors


async def _audit(plane: Plane, **params: str) -> list[dict[str, object]]:
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    r = await plane.call("GET", f"/api/v1/audit?{qs}")
    assert r.status == 200
    entries: list[dict[str, object]] = r.json["entries"]
    return entries


async def test_rejected_change_is_422_with_paths_and_changes_nothing(plane: Plane) -> None:
    before_text, before_audit = plane.plane.service.text, await _audit(plane)
    r = await plane.call(
        "PATCH",
        "/api/v1/zones/alpha",
        {"origins": [{"host": "127.0.0.1", "port": 0}], "https_redirec": True},
    )
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
    paths = {e["path"]: e["reason"] for e in r.json["errors"]}
    assert "zones[0].origins[0].port" in paths and "65535" in paths["zones[0].origins[0].port"]
    assert "did you mean 'https_redirect'" in paths["zones[0].https_redirec"]
    # a rate-limit rule of the shield's section, judged by its decoder
    r = await plane.call("POST", "/api/v1/zones/beta/rate-limits", {"id": "r", "requests": "x"})
    assert r.status == 422
    assert any(e["path"].startswith("zones[1].security.rate_limits[0]") for e in r.json["errors"])
    assert plane.plane.service.text == before_text and plane.version == 1
    assert plane.applied == [] and await _audit(plane) == before_audit


async def test_edge_refusal_is_422_and_not_recorded(plane: Plane) -> None:
    plane.refuse = ConfigErrors([ConfigError("listeners", "listeners changed: restart")])
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {"https_redirect": False})
    assert r.status == 422 and r.json["errors"] == [
        {"path": "listeners", "reason": "listeners changed: restart"}
    ]
    assert plane.version == 1


async def test_versions_diff_and_rollback(plane: Plane) -> None:
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {"preserve_host": False})
    assert r.status == 200 and r.json["version"] == 2
    assert plane.applied[-1].zones[0].preserve_host is False
    r = await plane.call("PUT", "/api/v1/zones/beta/settings/limits", {"max_body_bytes": "1MB"})
    assert r.status == 200, r.body
    assert plane.applied[-1].zones[1].limits.max_body_bytes == 1_000_000
    listing = (await plane.call("GET", "/api/v1/versions")).json
    assert listing["current"] == 3 and [v["version"] for v in listing["versions"]] == [3, 2, 1]
    assert listing["versions"][-1]["source"] == "file"
    diff = (await plane.call("GET", "/api/v1/versions/2/diff")).json["diff"]
    assert "+preserve_host = false" in diff and diff.startswith("--- v1\n+++ v2")
    v1 = (await plane.call("GET", "/api/v1/versions/1")).json
    assert v1["toml"] == plane.config_path.read_text()
    r = await plane.call("POST", "/api/v1/versions/1/rollback")
    assert r.status == 200 and r.json == {"version": 4, "rolled_back_to": 1}
    assert plane.plane.service.text == plane.config_path.read_text()
    assert plane.applied[-1].zones[0].preserve_host is True
    assert (await plane.call("POST", "/api/v1/versions/99/rollback")).status == 404
    entry = (await _audit(plane, action="config.rollback"))[0]
    assert entry["version"] == 4 and "+preserve_host = false" not in str(entry["diff"])
    assert "max_body_bytes" in str(entry["diff"])


async def test_unchanged_edit_creates_no_version(plane: Plane) -> None:
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {})
    assert r.status == 200
    # the document is re-written from data (comments/layout not kept), so the first edit
    # may reformat; the second identical edit must not create another version
    v = plane.version
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {})
    assert r.json["version"] == v == plane.version


async def test_rule_collections_crud(plane: Plane) -> None:
    base = "/api/v1/zones/alpha/ip-access-rules"
    rule = {"id": "office", "mode": "allow", "kind": "cidr", "value": "192.0.2.0/24"}
    r = await plane.call("POST", base, rule)
    assert r.status == 201, r.body
    assert plane.applied[-1].zones[0].security.ip_access_rules[0].value == "192.0.2.0/24"
    assert (await plane.call("POST", base, rule)).status == 409
    assert (await plane.call("GET", f"{base}/office")).json["item"] == rule
    r = await plane.call("PUT", f"{base}/office", {**rule, "mode": "block"})
    assert (
        r.status == 200 and plane.applied[-1].zones[0].security.ip_access_rules[0].mode == "block"
    )
    assert (await plane.call("PUT", f"{base}/nope", rule)).status == 404
    assert (await plane.call("DELETE", f"{base}/office")).status == 200
    assert (await plane.call("GET", base)).json["ip-access-rules"] == []
    actions = [e["action"] for e in await _audit(plane, zone="alpha")]
    assert actions == ["ip-access-rules.add", "ip-access-rules.put", "ip-access-rules.delete"]


async def test_zone_create_delete_and_attack_mode(plane: Plane) -> None:
    zone = {"name": "gamma", "hosts": ["gamma.test"], "origins": [{"host": "127.0.0.1"}]}
    assert (await plane.call("POST", "/api/v1/zones", zone)).status == 201
    assert (await plane.call("POST", "/api/v1/zones", zone)).status == 409
    r = await plane.call("POST", "/api/v1/zones", {**zone, "name": "delta"})
    assert r.status == 422  # gamma.test belongs to gamma already
    await plane.call("PUT", "/api/v1/zones/gamma/settings/security", {"level": "medium"})
    r = await plane.call("POST", "/api/v1/zones/gamma/attack-mode", {"enabled": True})
    assert r.json["security_level"] == "under_attack"
    assert plane.applied[-1].zones[2].security.level == "under_attack"
    r = await plane.call("POST", "/api/v1/zones/gamma/attack-mode", {"enabled": False})
    assert r.json["security_level"] == "medium"
    assert (await plane.call("DELETE", "/api/v1/zones/gamma")).status == 200
    assert (await plane.call("GET", "/api/v1/zones/gamma")).status == 404


async def test_audit_entries_carry_who_where_what(plane: Plane) -> None:
    tok = await plane.token(zones=["beta"])
    await plane.call("PATCH", "/api/v1/zones/beta", {"allow_underscore_headers": True}, token=tok)
    e = (await _audit(plane, zone="beta"))[-1]
    assert e["actor"] == tok.split("_")[1] and e["client_ip"] == "127.0.0.1"
    assert e["action"] == "zone.update" and "+allow_underscore_headers = true" in str(e["diff"])
    assert (await plane.call("GET", "/api/v1/audit?since=abc")).status == 400


async def test_audit_log_is_append_only_and_hash_chained(plane: Plane) -> None:
    await plane.call("POST", "/api/v1/zones/alpha/attack-mode", {"enabled": True})
    assert (await plane.call("GET", "/api/v1/audit/verify")).json == {"ok": True, "entries": 3}
    db = plane.plane.service.store.db
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    db.execute("DROP TRIGGER audit_no_update")  # tampering behind the API's back ...
    db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 3")
    assert (await plane.call("GET", "/api/v1/audit/verify")).json == {
        "ok": False,
        "first_bad_seq": 3,
    }


async def test_sighup_imports_a_changed_file(plane: Plane) -> None:
    await plane.call("PATCH", "/api/v1/zones/alpha", {"preserve_host": False})
    await plane.plane.reload_file()  # unchanged file: nothing
    assert plane.version == 2
    text = plane.config_path.read_text().replace('name = "beta"', 'name = "beta2"')
    plane.config_path.write_text(text)
    await plane.plane.reload_file()
    assert plane.version == 3 and plane.plane.service.text == text
    e = (await _audit(plane, action="config.import"))[-1]
    assert e["actor"] == "file" and '+name = "beta2"' in str(e["diff"])
    plane.config_path.write_text(text.replace("port = 9", "port = 0"))
    await plane.plane.reload_file()  # invalid: logged, nothing changes
    assert plane.version == 3


async def test_restart_keeps_api_versions_unless_the_file_changed(plane: Plane) -> None:
    await plane.call("PATCH", "/api/v1/zones/alpha", {"preserve_host": False})
    boot = bootstrap(str(plane.config_path), announce=False)
    try:
        assert boot.version.id == 2 and boot.config.zones[0].preserve_host is False
        assert boot.token is None  # tokens exist: no new bootstrap token
    finally:
        boot.store.close()
    plane.config_path.write_text(plane.config_path.read_text() + "\n# edited\n")
    boot = bootstrap(str(plane.config_path), announce=False)
    try:
        assert boot.version.id == 3 and boot.version.source == "file"
        assert boot.config.zones[0].preserve_host is True
    finally:
        boot.store.close()
