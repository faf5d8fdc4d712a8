"""Abuse reports: public intake (``/abuse``, HTML form or JSON), triage, forwarding.

Intake is public on the control listener (which is private by design; exposing it on the edge
under a reserved path is future work, see docs/control.md). Every report is validated, bounded,
rate-limited per client IP (``[control] abuse_per_hour`` -> 429), matched to a zone by the
URLs' hostnames, stored and audited. A report changes nothing by itself: an operator triages
it (status, notes) and may forward it to the zone owner's ``abuse_webhook``.
"""

from __future__ import annotations

import html
import math
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shieldwall.control import records
from shieldwall.control.api.common import OBJECT, change, int_arg, scope_zones
from shieldwall.control.api.types import HttpError, Request, Response, Route, json_response
from shieldwall.control.webhook import post_json

__all__ = ["CATEGORIES", "ROUTES", "zone_for_host"]

CATEGORIES = ("phishing", "malware", "copyright", "spam", "csam", "violence", "other")
MAX_URLS = 20  # URLs in one report
MAX_URL_CHARS = 2048
MAX_DESCRIPTION = 10_000  # characters
MAX_FIELD = 320  # name / email characters
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reporter_email", "urls", "category"],
    "properties": {
        "reporter_name": {"type": "string"},
        "reporter_email": {"type": "string"},
        "urls": {"type": "array", "items": {"type": "string"}},
        "category": {"enum": list(CATEGORIES)},
        "description": {"type": "string"},
    },
}


def zone_for_host(zones: list[dict[str, Any]], host: str) -> str:
    host = host.lower().rstrip(".")
    best, best_len = "", -1
    for z in zones:
        for h in z.get("hosts", []):
            h = str(h).lower()
            if h == host:
                return str(z.get("name", ""))
            if h.startswith("*.") and host.endswith(h[1:]) and len(h) > best_len:
                best, best_len = str(z.get("name", "")), len(h)
    return best


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for key, required in (("reporter_name", False), ("reporter_email", True)):
        v = data.get(key, "")
        if not isinstance(v, str) or len(v) > MAX_FIELD or (required and "@" not in v):
            errors.append(
                {
                    "path": key,
                    "reason": "expected an e-mail address"
                    if required
                    else f"at most {MAX_FIELD} characters",
                }
            )
        out[key] = v if isinstance(v, str) else ""
    urls = data.get("urls")
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.splitlines() if u.strip()]
    if not (
        isinstance(urls, list)
        and 1 <= len(urls) <= MAX_URLS
        and all(
            isinstance(u, str)
            and u.startswith(("http://", "https://"))
            and len(u) <= MAX_URL_CHARS
            and urlsplit(u).hostname
            for u in urls
        )
    ):
        errors.append({"path": "urls", "reason": f"1-{MAX_URLS} http(s) URLs"})
        urls = []
    out["urls"] = urls
    cat = data.get("category")
    if cat not in CATEGORIES:
        errors.append({"path": "category", "reason": f"one of {', '.join(CATEGORIES)}"})
    out["category"] = cat
    desc = data.get("description", "")
    if not isinstance(desc, str) or len(desc) > MAX_DESCRIPTION:
        errors.append({"path": "description", "reason": f"at most {MAX_DESCRIPTION} characters"})
    out["description"] = desc if isinstance(desc, str) else ""
    if errors:
        raise HttpError(422, "the report is incomplete", errors=errors)
    return out


def _form(req: Request) -> tuple[dict[str, Any], bool]:
    ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HttpError(400, "form is not UTF-8") from None
        return {k: v[-1] for k, v in fields.items()}, True
    return req.json_object(), False


async def intake(req: Request) -> Response:
    svc = req.app.service
    wait = svc.abuse_limiter.check(req.client_ip)
    if wait:
        raise HttpError(
            429,
            "too many reports from your address; try again later",
            headers=[("Retry-After", str(math.ceil(wait)))],
        )
    data, is_form = _form(req)
    report = _validate(data)
    zones = svc.document().get("zones", [])
    report["zone"] = next(
        (
            z
            for z in (zone_for_host(zones, urlsplit(u).hostname or "") for u in report["urls"])
            if z
        ),
        "",
    )
    row = await req.app.db(records.abuse_new, svc.store, report, req.client_ip)
    await svc.record(
        change(
            req,
            "abuse.report",
            zone=row["zone"],
            target=str(row["id"]),
            detail={"category": row["category"], "urls": row["urls"]},
        )
    )
    if is_form:
        page = (
            "<!doctype html><title>Report received</title>"
            f"<p>Thank you. Report {row['id']} was received."
        )
        return Response(201, page.encode(), "text/html; charset=utf-8")
    return json_response({"id": row["id"], "status": row["status"], "zone": row["zone"]}, 201)


async def form(req: Request) -> Response:
    cats = "".join(f'<option value="{c}">{c}</option>' for c in CATEGORIES)
    page = (
        "<!doctype html><meta charset=utf-8><title>Report abuse</title>"
        "<h1>Report abuse</h1><form method=post action=/abuse>"
        "<p><label>Your name <input name=reporter_name></label>"
        "<p><label>Your e-mail <input name=reporter_email type=email required></label>"
        "<p><label>URLs (one per line)<br>"
        "<textarea name=urls rows=4 cols=60 required></textarea></label>"
        f"<p><label>Category <select name=category>{cats}</select></label>"
        "<p><label>Description<br><textarea name=description rows=6 cols=60></textarea></label>"
        "<p><button>Send</button></form>"
    )
    return Response(200, page.encode(), "text/html; charset=utf-8")


async def _report(req: Request) -> dict[str, Any]:
    try:
        rid = int(req.params["report"])
    except ValueError:
        raise HttpError(404, "a report id is a number") from None
    row = (
        await req.app.db(records.abuse_get, req.app.service.store, rid) if 0 < rid < 2**62 else None
    )
    assert req.token is not None
    if row is None or (req.token.zones is not None and row["zone"] not in req.token.zones):
        raise HttpError(404, f"no abuse report {req.params['report']}")
    return row


async def list_reports(req: Request) -> Response:
    status = req.arg("status") or None
    zone = req.arg("zone") or None
    limit = int_arg(req, "limit", 100, 1, 500)
    rows = await req.app.db(
        lambda: records.abuse_list(
            req.app.service.store, status=status, zone=zone, zones=scope_zones(req), limit=limit
        )
    )
    return json_response({"reports": rows})


async def get_report(req: Request) -> Response:
    return json_response({"report": await _report(req)})


async def triage(req: Request) -> Response:
    row = await _report(req)
    body = req.json_object()
    status, notes = body.get("status"), body.get("notes")
    if status is not None and status not in records.ABUSE_STATUSES:
        raise HttpError(
            422,
            "unknown status",
            errors=[{"path": "status", "reason": f"one of {', '.join(records.ABUSE_STATUSES)}"}],
        )
    if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_DESCRIPTION):
        raise HttpError(
            422, "notes must be a string", errors=[{"path": "notes", "reason": "expected a string"}]
        )
    new = await req.app.db(
        lambda: records.abuse_update(req.app.service.store, row["id"], status=status, notes=notes)
    )
    await req.app.service.record(
        change(
            req,
            "abuse.triage",
            zone=row["zone"],
            target=str(row["id"]),
            detail={"status": status, "notes": notes},
        )
    )
    return json_response({"report": new})


async def forward(req: Request) -> Response:
    row = await _report(req)
    store = req.app.service.store
    contact = await req.app.db(records.contact_get, store, row["zone"]) if row["zone"] else None
    if not contact or not contact["abuse_webhook"]:
        raise HttpError(409, "the report's zone has no abuse_webhook contact (PUT .../contact)")
    doc = {
        k: row[k]
        for k in (
            "id",
            "received_at",
            "zone",
            "urls",
            "category",
            "description",
            "reporter_name",
            "reporter_email",
        )
    }
    status, error = await post_json(contact["abuse_webhook"], {"abuse_report": doc})
    result = f"HTTP {status}" if status else f"failed: {error}"
    ok = 200 <= status < 300
    new = await req.app.db(
        lambda: records.abuse_update(
            store,
            row["id"],
            status="forwarded" if ok else None,
            forwarded_at=store.clock() if ok else None,
            forward_result=result,
        )
    )
    await req.app.service.record(
        change(
            req,
            "abuse.forward",
            zone=row["zone"],
            target=str(row["id"]),
            detail={"webhook": contact["abuse_webhook"], "result": result},
        )
    )
    if not ok:
        raise HttpError(502, f"forwarding failed: {html.escape(result)}")
    return json_response({"report": new, "forward_result": result})


_R = "/api/v1/abuse/{report}"
ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/abuse",
        form,
        "public",
        "Abuse report form (HTML)",
        "abuse",
        response_schema={"type": "string"},
        media_types=("text/html",),
    ),
    Route(
        "POST",
        "/abuse",
        intake,
        "public",
        "Submit an abuse report (form or JSON)",
        "abuse",
        request_schema=REPORT_SCHEMA,
        response_schema=OBJECT,
        statuses=(422, 429),
        created=True,
        media_types=("application/json", "text/html"),
    ),
    Route(
        "GET",
        "/api/v1/abuse",
        list_reports,
        "read",
        "List abuse reports",
        "abuse",
        response_schema=OBJECT,
        query=("status", "zone", "limit"),
        statuses=(400,),
    ),
    Route("GET", _R, get_report, "read", "One abuse report", "abuse", response_schema=OBJECT),
    Route(
        "PATCH",
        _R,
        triage,
        "write",
        "Triage (status, notes)",
        "abuse",
        request_schema=OBJECT,
        response_schema=OBJECT,
        statuses=(422,),
    ),
    Route(
        "POST",
        _R + "/forward",
        forward,
        "write",
        "Forward to the zone owner's webhook",
        "abuse",
        response_schema=OBJECT,
        statuses=(409, 502),
    ),
)
