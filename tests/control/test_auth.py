"""Tokens and scopes: 401 without a valid token, read-only tokens cannot write, zone-scoped
tokens cannot see or touch other zones, admin-only endpoints, revocation, stored hashed."""

from __future__ import annotations

from tests.control.conftest import Plane


async def test_missing_bad_and_revoked_tokens_get_401(plane: Plane) -> None:
    assert (await plane.call("GET", "/api/v1/zones", token=None)).status == 401
    r = await plane.call("GET", "/api/v1/zones", token="swt_000000000000_" + "A" * 43)
    assert r.status == 401 and r.headers["www-authenticate"] == "Bearer"
    tok = await plane.token()
    assert (await plane.call("GET", "/api/v1/zones", token=tok)).status == 200
    tid = tok.split("_")[1]
    assert (await plane.call("DELETE", f"/api/v1/tokens/{tid}")).status == 200
    assert (await plane.call("GET", "/api/v1/zones", token=tok)).status == 401
    # a token with a right id but a wrong secret
    other = await plane.token()
    forged = other[:-5] + ("AAAAA" if not other.endswith("AAAAA") else "BBBBB")
    assert (await plane.call("GET", "/api/v1/zones", token=forged)).status == 401


async def test_token_secret_is_stored_hashed(plane: Plane) -> None:
    tok = await plane.token()
    secret = tok.split("_", 2)[2]
    rows = plane.plane.service.store.db.execute("SELECT secret_hash FROM tokens").fetchall()
    assert all(secret not in r[0] for r in rows)
    dump = "\n".join(plane.plane.service.store.db.iterdump())
    assert secret not in dump


async def test_read_only_token_cannot_write(plane: Plane) -> None:
    ro = await plane.token(read_only=True)
    before = plane.version
    assert (await plane.call("GET", "/api/v1/zones/alpha", token=ro)).status == 200
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {"https_redirect": True}, token=ro)
    assert r.status == 403 and "read-only" in r.json["detail"]
    r = await plane.call("POST", "/api/v1/zones/alpha/attack-mode", {"enabled": True}, token=ro)
    assert r.status == 403
    assert plane.version == before and plane.applied == []


async def test_zone_scoped_token_stays_in_its_zone(plane: Plane) -> None:
    tok = await plane.token(zones=["alpha"])
    listed = (await plane.call("GET", "/api/v1/zones", token=tok)).json["zones"]
    assert [z["name"] for z in listed] == ["alpha"]
    assert (await plane.call("GET", "/api/v1/zones/beta", token=tok)).status == 403
    r = await plane.call("PATCH", "/api/v1/zones/beta", {"https_redirect": False}, token=tok)
    assert r.status == 403
    r = await plane.call("POST", "/api/v1/zones/beta/firewall-rules", {"id": "x"}, token=tok)
    assert r.status == 403
    # its own zone is writable, but it cannot rename it out of its scope
    r = await plane.call("PATCH", "/api/v1/zones/alpha", {"name": "gamma"}, token=tok)
    assert r.status == 409
    # deployment-wide things are not for it
    for method, path in (
        ("GET", "/api/v1/versions"),
        ("GET", "/api/v1/config"),
        ("POST", "/api/v1/zones"),
        ("POST", "/api/v1/legal"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/versions/1/rollback"),
    ):
        r = await plane.call(method, path, {} if method == "POST" else None, token=tok)
        assert r.status == 403, (method, path, r.status)
    assert plane.applied == []


async def test_audit_is_filtered_by_scope(plane: Plane) -> None:
    await plane.call("POST", "/api/v1/zones/alpha/attack-mode", {"enabled": True})
    await plane.call("POST", "/api/v1/zones/beta/attack-mode", {"enabled": True})
    tok = await plane.token(zones=["beta"])
    entries = (await plane.call("GET", "/api/v1/audit", token=tok)).json["entries"]
    assert entries and {e["zone"] for e in entries} == {"beta"}


async def test_whoami_and_public_openapi(plane: Plane) -> None:
    tok = await plane.token(zones=["alpha"], read_only=True)
    me = (await plane.call("GET", "/api/v1/tokens/self", token=tok)).json
    assert me["zones"] == ["alpha"] and me["read_only"] is True
    doc = (await plane.call("GET", "/api/v1/openapi.json", token=None)).json
    assert doc["openapi"].startswith("3.1") and "/api/v1/zones/{zone}" in doc["paths"]
    assert doc["paths"]["/api/v1/zones"]["get"]["security"] == [{"bearer": []}]
