"""Challenge and explanation pages (HTML + inline ES5 JS) and their JSON variants.

The challenge page is self-contained: no external requests (no CDN, fonts or images), so it
works while the origin is down and leaks nothing to third parties. Its script:

1. starts a Web Worker from a ``blob:`` URL built from the inline solver (``solver.js``) and
   solves the proof of work there, so the page stays responsive;
2. falls back to solving inline in small slices (``setTimeout``) where Workers or Blobs are
   missing (old browsers) or refused;
3. POSTs ``token`` and ``solution`` to ``SUBMIT_PATH`` in the *query string* (edge filters see
   request heads only; the body is empty) and reloads the page; the edge answers the POST with
   the clearance cookie.

Without JavaScript: at low levels a ``<noscript>`` meta refresh redeems the same token through the
time-lock path (``GET SUBMIT_PATH?token=...&timelock=1&r=PATH`` after ``TIMELOCK_SECONDS``; the
edge answers 303 back to ``r``, the page's own path); at higher
levels the page explains why access is held and what to do, with a reason code and request id.

API clients (``Accept: application/json`` without ``text/html``) get JSON with the same facts.
Every answer carries ``Cache-Control: no-store`` (a challenge must never be cached by a shared
cache), a restrictive Content-Security-Policy with a per-response script nonce, and
``X-Robots-Tag: noindex``. Status: 403, or 503 in ``under_attack`` mode.
"""

from __future__ import annotations

import html
import json
import secrets
from functools import cache
from importlib.resources import files
from typing import Final
from urllib.parse import quote

from shieldwall.challenge.difficulty import SecurityLevel, noscript_mode
from shieldwall.edge.decision import Respond

__all__ = [
    "SUBMIT_PATH",
    "TIMELOCK_SECONDS",
    "render_block_page",
    "render_challenge",
    "solver_source",
    "wants_json",
]

SUBMIT_PATH: Final = "/.shieldwall/challenge"
TIMELOCK_SECONDS: Final = 5  # no-JS wait at low levels (checked server-side: verify_timelock)
_SLICE: Final = 2000  # hashes per inline slice: keeps the page responsive without a Worker

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}"
    "main{max-width:34em;margin:12vh auto;padding:1.5em 2em;background:#fff;border-radius:8px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}h1{font-size:1.35em;margin:0 0 .5em}"
    "small{color:#555}code{background:#eef;padding:0 .3em}"
)

_PAGE_JS = """(function () {
  var d = document.getElementById('sw-data');
  var token = d.getAttribute('data-token');
  var diff = +d.getAttribute('data-difficulty');
  var path = d.getAttribute('data-path');
  var st = document.getElementById('sw-status');
  var done = false;
  function say(t) { st.textContent = t; }
  function submit(n) {
    if (done) { return; }
    done = true;
    say('Verified. Loading the site\\u2026');
    var x = new XMLHttpRequest();
    // the answer rides in the query string: the edge's filters see the head, not the body
    x.open('POST', path + '?token=' + encodeURIComponent(token) + '&solution=' + n, true);
    x.onreadystatechange = function () {
      if (x.readyState !== 4) { return; }
      if (x.status >= 200 && x.status < 400) { window.location.reload(); }
      else { say('Verification failed (HTTP ' + x.status + '). Reload the page to retry.'); }
    };
    x.send(null);
  }
  function inline(start) {
    var r = swSolve(token, diff, start, SLICE);
    if (r >= 0) { submit(r); } else { setTimeout(function () { inline(start + SLICE); }, 0); }
  }
  try {
    var src = document.getElementById('sw-solver').text +
      '\\nonmessage=function(e){var s=0,r;for(;;){r=swSolve(e.data[0],e.data[1],s,50000);' +
      'if(r>=0){postMessage(r);return;}s+=50000;}};';
    var w = new Worker(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})));
    w.onmessage = function (e) { submit(e.data); };
    w.onerror = function () { inline(0); };
    w.postMessage([token, diff]);
  } catch (e) { inline(0); }
})();
""".replace("SLICE", str(_SLICE))


@cache
def solver_source() -> str:
    return files("shieldwall.challenge").joinpath("solver.js").read_text("utf-8")


def wants_json(accept: bytes | None) -> bool:
    """True for API clients: they accept JSON and do not ask for HTML."""
    if not accept:
        return False
    a = accept.lower()
    return b"application/json" in a and b"text/html" not in a


def _headers(content_type: bytes, nonce: str | None) -> tuple[tuple[bytes, bytes], ...]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    csp = (
        f"default-src 'none'; script-src {script}; worker-src blob:; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return (
        (b"content-type", content_type),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", csp.encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"x-robots-tag", b"noindex"),
        (b"referrer-policy", b"no-referrer"),
    )


def _status(level: SecurityLevel) -> int:
    return 503 if level is SecurityLevel.UNDER_ATTACK else 403


def _doc(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def render_challenge(
    token: str,
    difficulty: int,
    level: SecurityLevel,
    *,
    host: str,
    reason: str,
    request_id: str,
    accept: bytes | None = None,
    return_to: str = "/",
) -> Respond:
    """The answer that asks the client to solve ``token``; ``return_to`` is the path the no-JS
    time-lock redemption sends the client back to."""
    status = _status(level)
    if wants_json(accept):
        doc = {
            "error": "challenge_required",
            "reason": reason,
            "request_id": request_id,
            "challenge": {
                "token": token,
                "difficulty": difficulty,
                "algorithm": "sha256-leading-zero-bits(token || decimal solution)",
                "submit": SUBMIT_PATH,
            },
        }
        data = json.dumps(doc, separators=(",", ":")).encode()
        return Respond(status, _headers(b"application/json", None), data)
    nonce = secrets.token_urlsafe(16)
    e = html.escape
    if noscript_mode(level) == "timelock":
        back = quote(return_to if return_to.startswith("/") else "/", safe="/")
        url = f"{SUBMIT_PATH}?token={token}&timelock=1&r={back}"
        noscript = (
            f'<noscript><meta http-equiv="refresh" content="{TIMELOCK_SECONDS};url={e(url)}">'
            f"<p>JavaScript is off: you will be let through in {TIMELOCK_SECONDS} seconds.</p>"
            "</noscript>"
        )
    else:
        noscript = (
            "<noscript><p><strong>JavaScript is required.</strong> This site is under heightened "
            "protection and needs JavaScript to confirm you are a visitor and not an automated "
            "attack. Enable JavaScript and reload, or contact the site owner quoting the codes "
            "below.</p></noscript>"
        )
    body = (
        f"<h1>Checking your browser before accessing {e(host)}</h1>"
        '<p id="sw-status" role="status" aria-live="polite">This takes a moment and happens '
        "once; no action is needed.</p>"
        f"{noscript}"
        f"<p><small>Reason <code>{e(reason)}</code> &middot; request <code>{e(request_id)}"
        "</code> &middot; protected by shieldwall</small></p>"
        f'<div id="sw-data" hidden data-token="{e(token)}" data-difficulty="{int(difficulty)}" '
        f'data-path="{e(SUBMIT_PATH)}"></div>'
        f'<script id="sw-solver" nonce="{nonce}">{solver_source()}</script>'
        f'<script nonce="{nonce}">{_PAGE_JS}</script>'
    )
    page = _doc("Just a moment\u2026", body).encode("utf-8")
    return Respond(status, _headers(b"text/html; charset=utf-8", nonce), page)


_ADVICE: Final = {
    "ratelimit": "Too many requests came from your network. Wait a minute, then retry.",
    "banned": "Your network address is blocked by this site's protection.",
    "waf": "The request matched a security rule of this site.",
    "challenge_failed": "Your browser did not complete the security check.",
}


def render_block_page(
    reason: str, request_id: str, *, status: int = 403, accept: bytes | None = None
) -> Respond:
    """An explanation page: what happened (reason code), what to do."""
    advice = _ADVICE.get(reason, "Access to this site was refused by its protection.")
    if wants_json(accept):
        doc = {"error": "blocked", "reason": reason, "request_id": request_id, "detail": advice}
        body = json.dumps(doc, separators=(",", ":")).encode()
        return Respond(status, _headers(b"application/json", None), body)
    e = html.escape
    page = _doc(
        "Access denied",
        f"<h1>Access denied</h1><p>{e(advice)}</p><p>If you think this is a mistake, contact the "
        "site owner and quote these codes:</p>"
        f"<p>Reason <code>{e(reason)}</code><br>Request <code>{e(request_id)}</code></p>",
    ).encode("utf-8")
    return Respond(status, _headers(b"text/html; charset=utf-8", None), page)
