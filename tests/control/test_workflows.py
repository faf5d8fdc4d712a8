"""Legal orders, abuse reports and purge requests through the API (in-process plane)."""

from __future__ import annotations

import json

from tests.control.conftest import Plane
from tests.support.origin import Origin


async def test_legal_order_is_compiled_into_the_config_and_lifted(plane: Plane) -> None:
    order = {
        "id": "ord-1",
        "zone": "alpha",
        "authority": "Court X",
        "reference": "R-1",
        "scope": "prefix",
        "path": "/x/",
        "countries": ["DE", "FR"],
        "notes": "scan on file",
    }
    r = await plane.call("POST", "/api/v1/legal", order)
    assert r.status == 201, r.body
    assert r.json["order"]["created_by"] == plane.admin.split("_")[1]
    block = plane.applied[-1].control.legal_blocks[0]
    assert (block.id, block.zone, block.path, block.countries) == (
        "ord-1",
        "alpha",
        "/x/",
        ("DE", "FR"),
    )
    assert (await plane.call("POST", "/api/v1/legal", order)).status == 409
    # invalid orders are rejected by the config validator; nothing is recorded
    bad = {
        "zone": "nope",
        "authority": "A",
        "countries": ["germany"],
        "scope": "prefix",
        "path": "x",
    }
    r = await plane.call("POST", "/api/v1/legal", bad)
    assert r.status == 422
    paths = {e["path"] for e in r.json["errors"]}
    assert {
        "control.legal_blocks[1].zone",
        "control.legal_blocks[1].countries[0]",
        "control.legal_blocks[1].path",
    } <= paths
    assert len((await plane.call("GET", "/api/v1/legal")).json["orders"]) == 1
    # a zone with an order in force cannot be deleted out from under it
    assert (await plane.call("DELETE", "/api/v1/zones/alpha")).status == 422
    r = await plane.call("POST", "/api/v1/legal/ord-1/lift", {"reason": "order quashed"})
    assert r.status == 200 and r.json["order"]["lift_reason"] == "order quashed"
    assert plane.applied[-1].control.legal_blocks == ()
    assert (await plane.call("POST", "/api/v1/legal/ord-1/lift", {})).status == 409
    assert (await plane.call("GET", "/api/v1/legal?active=true")).json["orders"] == []
    audit = (await plane.call("GET", "/api/v1/audit?zone=alpha")).json["entries"]
    assert [e["action"] for e in audit] == ["legal.create", "legal.lift"]
    assert '+id = "ord-1"' in audit[0]["diff"] and '-id = "ord-1"' in audit[1]["diff"]


async def test_zone_owner_cannot_lift_an_order(plane: Plane) -> None:
    await plane.call("POST", "/api/v1/legal", {"id": "o", "zone": "alpha", "authority": "A"})
    owner = await plane.token(zones=["alpha"])
    assert (await plane.call("POST", "/api/v1/legal/o/lift", {}, token=owner)).status == 403
    settings = {"legal_blocks": []}
    r = await plane.call("PUT", "/api/v1/settings/control", settings)
    assert r.status == 400  # not even an admin edits [control] around the legal workflow
    assert (await plane.call("GET", "/api/v1/legal/o", token=owner)).status == 200


async def test_abuse_intake_triage_and_forwarding(plane: Plane) -> None:
    report = {
        "reporter_email": "r@example.org",
        "urls": ["https://www.alpha.test/phish"],
        "category": "phishing",
        "description": "fake login",
    }
    r = await plane.call("POST", "/abuse", report, token=None)
    assert r.status == 201 and r.json["zone"] == "alpha"
    form = (
        "reporter_email=f%40example.org&category=spam"
        "&urls=http%3A%2F%2Fbeta.test%2Fa%0D%0Ahttp%3A%2F%2Fx.test%2F"
    )
    r = await plane.call(
        "POST",
        "/abuse",
        token=None,
        raw=form.encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status == 201 and b"Report 2 was received" in r.body
    r = await plane.call("POST", "/abuse", {"urls": "nope", "category": "x"}, token=None)
    assert r.status == 422
    assert {e["path"] for e in r.json["errors"]} == {"reporter_email", "urls", "category"}
    r = await plane.call("POST", "/abuse", report, token=None)
    assert r.status == 429 and int(r.headers["retry-after"]) > 0
    assert (
        (await plane.call("GET", "/abuse", token=None))
        .headers["content-type"]
        .startswith("text/html")
    )
    # nothing changed in the config; the operators see and triage them
    assert plane.version == 1
    beta_owner = await plane.token(zones=["beta"])
    listed = (await plane.call("GET", "/api/v1/abuse", token=beta_owner)).json["reports"]
    assert [(x["id"], x["zone"], x["urls"][1]) for x in listed] == [(2, "beta", "http://x.test/")]
    assert (await plane.call("GET", "/api/v1/abuse/1", token=beta_owner)).status == 404
    r = await plane.call("PATCH", "/api/v1/abuse/1", {"status": "triaged", "notes": "looks real"})
    assert r.json["report"]["status"] == "triaged"
    assert (await plane.call("PATCH", "/api/v1/abuse/1", {"status": "bogus"})).status == 422
    assert (await plane.call("POST", "/api/v1/abuse/1/forward")).status == 409  # no webhook yet
    async with Origin() as hook:
        r = await plane.call(
            "PUT",
            "/api/v1/zones/alpha/contact",
            {"owner_email": "o@alpha.test", "abuse_webhook": f"http://127.0.0.1:{hook.port}/abuse"},
        )
        assert r.status == 200
        r = await plane.call("POST", "/api/v1/abuse/1/forward")
        assert r.status == 200 and r.json["report"]["status"] == "forwarded"
        sent = json.loads(hook.requests[0].body)["abuse_report"]
        assert hook.requests[0].target == "/abuse" and sent["urls"] == report["urls"]
    actions = [
        e["action"] for e in (await plane.call("GET", "/api/v1/audit?zone=alpha")).json["entries"]
    ]
    assert actions == ["abuse.report", "abuse.triage", "zone.contact", "abuse.forward"]


async def test_purge_is_recorded_not_faked_and_rate_limited(plane: Plane) -> None:
    """Without an edge attached (this in-process plane) a purge is recorded, never faked."""
    r = await plane.call("POST", "/api/v1/zones/alpha/purge", {"urls": ["https://alpha.test/a"]})
    assert r.status == 501 and "no edge is attached" in r.json["detail"]
    assert (
        await plane.call("POST", "/api/v1/zones/alpha/purge", {"urls": [], "tags": ["t"]})
    ).status == 422
    assert (
        await plane.call("POST", "/api/v1/zones/alpha/purge", {"everything": True})
    ).status == 501
    r = await plane.call("POST", "/api/v1/zones/alpha/purge", {"everything": True})
    assert r.status == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    rows = (await plane.call("GET", "/api/v1/zones/alpha/purges")).json["purges"]
    assert [(p["kind"], p["status"]) for p in rows] == [
        ("everything", "not_applied"),
        ("urls", "not_applied"),
    ]
    audit = (await plane.call("GET", "/api/v1/audit?action=purge.request")).json["entries"]
    assert len(audit) == 2
    assert audit[0]["detail"]["status"] == "not_applied"
