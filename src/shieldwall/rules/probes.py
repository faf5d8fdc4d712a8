"""The rule index's per-request probe as generated functions over bit masks.

``build_probe(by_kind, always, env)`` turns the index's atoms (``rules.index``) into
``candidates(ctx) -> int``: bit ``i`` is set when rule ``i`` could match. Straight-line code,
no call per probe and no set:

- ``exact``: one dict probe per field (``table.get(value, 0)`` gives the rules' mask);
- ``ip``: one dict probe per distinct prefix length over the address's integer;
- ``regex`` over several fields at once: one ``re2.Set`` over the fields' values joined with
  ``\\n`` (``rules.joined``: a superset of the per-field scans). Patterns that cannot be
  joined make their rules always candidates; a joined text over ``MAX_MATCH_SUBJECT_BYTES``
  makes every regex rule of that scan a candidate, as the per-field probe did for one long
  value;
- ``header``: the request's header names intersected with the indexed ones (C-level);
- ``member``: ``value in list`` per distinct named list;
- ``arg`` / ``cookie``: a name written literally in the raw query / a Cookie header (a
  superset); a query whose names may be encoded is parsed like the field does.

**Three parts, by what a fact depends on.** A connection's consecutive heads often send the
same field lines with a new request line (``HeaderBlock``), so the probe is cut in three:

- the *header part* (``_head(ctx, hs)``): every atom over the field lines alone (user agent,
  referer, cookie, header and cookie names, and ``http.host``: ``ctx.host`` is the Host field
  line, port stripped and lower-cased, nothing else). Its mask is kept on the block
  (``block.keep(key, mask)``, ``key`` one object per compiled index, so a reload recomputes)
  and reused by every request of the block; without a block (contexts built by hand) it runs
  on ``ctx.headers`` every time;
- the *address part* (``_by_ip(ctx)``): ``ip.src`` prefixes and named IP lists, a function
  of the client address and this index alone, remembered per (index, address) in a bounded
  per-worker dict (``MAX_IP_MEMO``); never on the block (the same field lines come from many
  clients behind a proxy, and the address is the request's);
- the *request part*, inline in ``_candidates``: everything else (method, path, target,
  query and arguments, GeoIP fields, TLS, threat score ...), every request.

Each part has its own joined regex scan, so a new path is never scanned together with the
user agent. The request part's scan is a function of its text alone (often just the path,
which repeats while queries change): its mask is remembered per (index, text) for short
texts, in a bounded per-worker dict (``MAX_SCAN_MEMO``) that, like the address dict, is
emptied when full, so a flood of new paths or addresses costs what it would cost anyway.

Without a GeoIP database, country and ASN are constants: their ``exact`` atoms are folded at
build time (a rule whose constant is ``""``/``0`` is always a candidate, any other never). The
header part reads the user agent, referer, cookie and header names from the request's header
dict when no name repeats (else from the list): ``waf.inputs.header_dict``, the block's own,
which the WAF reuses, made without a ``WafState``. Like the rules compiler, every constant
reaches the generated code through its globals; the source is built from identifiers this
module makes up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final

from shieldwall.edge.context import RequestContext
from shieldwall.rules.fields import FIELDS, Environment, NullGeoLookup, _enc
from shieldwall.rules.joined import (  # (the WAF's prefilter imports these from here too)
    SET_MAX_MEM,
    UNANCHORED,
    any_matcher,
    joinable,
    joined_set,
    scanner,
)
from shieldwall.rules.values import parse_query
from shieldwall.waf.inputs import header_dict

__all__ = [
    "MAX_IP_MEMO",
    "SET_MAX_MEM",
    "UNANCHORED",
    "BlockKey",
    "ProbeBody",
    "any_matcher",
    "build_probe",
    "joinable",
    "joined_set",
    "mask_of",
]

# remembered masks, per worker, for every compiled index (keyed by (index key, value)):
# emptied when full, so a flood of new values costs what it would cost anyway
MAX_IP_MEMO: Final = 4096  # client addresses -> address-part mask
MAX_SCAN_MEMO: Final = 4096  # request-line texts -> their scan's mask ...
MAX_SCAN_MEMO_TEXT: Final = 256  # ... when no longer than this (bytes kept: ~1 MB at most)
_IP_MASKS: dict[tuple[object, str], int] = {}
_SCAN_MASKS: dict[tuple[object, bytes], int] = {}
_ATTRIBUTE: Final = {
    "http.request.method": "ctx.method",
    "http.request.uri": "ctx.target",
    "http.request.uri.path": "ctx.path",
    "http.request.uri.query": "ctx.query",
    "shieldwall.threat_score": "ctx.threat_score",
}
# fields that are functions of the field lines alone, and their value in the header part
# (``hd``: the header dict or None, ``hs``: the header list)
_HEADER_FIELD: Final = {
    "http.host": "_enc(ctx.host)",  # the Host field line's host (Exchange.start_request)
    "http.user_agent": "hd.get(b'user-agent', b'') if hd is not None else "
    "_first(hs, b'user-agent')",
    "http.referer": "hd.get(b'referer', b'') if hd is not None else _first(hs, b'referer')",
    "http.cookie": "hd.get(b'cookie', b'') if hd is not None else _cookie(hs)",
}
_GEO_CONST: Final = {  # value of the field without a GeoIP database
    "ip.src.country": b"",
    "ip.geoip.country": b"",
    "ip.src.asnum": 0,
    "ip.geoip.asnum": 0,
}
_name = itemgetter(0)
# a query argument name holding an escape, searched in "&" + query (a literal first byte:
# the engine skips to each "&" instead of trying every position, ~2.5x faster); linear (each
# try stops at the next "=" or "&"), so Python's ``re`` is safe here
_ENCODED_NAME: Final = re.compile(rb"&[^=&]*[%+]")

MaskProbe = Callable[[RequestContext], int]


class BlockKey:
    """The key a compiled index keeps its header-part masks under on a ``HeaderBlock``: one
    per compile, so a reloaded index never reads the previous one's masks."""

    __slots__ = ()


def mask_of(ids: Any) -> int:
    out = 0
    for i in ids:
        out |= 1 << i
    return out


def _first(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for k, v in headers:
        if k == name:
            return v
    return b""


def _cookie(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"; ".join([v for k, v in headers if k == b"cookie"])


class _Part:
    """One generated function's reads and tests: its locals (each field read once), its
    mask tests and the regex atoms its one joined scan will cover."""

    def __init__(
        self, consts: dict[str, Any], env: Environment, header: bool, memo: bool = False
    ) -> None:
        self.consts = consts
        self.env = env
        self.header = header
        self.memo = memo  # remember the scan's mask per text (``_SCAN_MASKS``)
        self.reads: list[str] = []
        self.body: list[str] = []
        self.values: dict[str, str] = {}
        self.regex: list[tuple[str, bytes, int]] = []
        self.uses_hdict = False

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def value(self, field: str) -> str:
        """A local holding the field's value, read once."""
        local = self.values.get(field)
        if local is not None:
            return local
        local = self.values[field] = f"v{len(self.values)}"
        if self.header:
            code = _HEADER_FIELD[field]
            self.uses_hdict = self.uses_hdict or "hd" in code
        elif field in _ATTRIBUTE:
            code = _ATTRIBUTE[field]
        elif (inline := FIELDS[field].inline) is not None:
            code = inline  # an expression over ``ctx`` and ``_enc``
        else:
            code = f"{self.const(FIELDS[field].make(self.env))}(ctx)"
        self.reads.append(f"    {local} = {code}")
        return local

    def add(self, kind: str, field: str, entries: list[tuple[Any, int]]) -> None:
        """The tests of one (kind, field)'s atoms."""
        body = self.body
        if kind == "exact":
            table: dict[Any, int] = {}
            for value, i in entries:
                table[value] = table.get(value, 0) | (1 << i)
            body.append(f"    m |= {self.const(table)}.get({self.value(field)}, 0)")
        elif kind == "ip":
            per_len: dict[int, dict[int, int]] = {}
            for (base, plen), i in entries:
                t = per_len.setdefault(plen, {})
                key = base >> (128 - plen)
                t[key] = t.get(key, 0) | (1 << i)
            v = self.value(field)
            probes = " | ".join(
                f"{self.const(t)}.get({v} >> {128 - plen}, 0)"
                for plen, t in sorted(per_len.items(), reverse=True)
            )
            body.append(f"    if {v} is not None:")
            body.append(f"        m |= {probes}")
        elif kind == "member":  # value: (list name, matcher)
            groups: dict[str, tuple[Any, int]] = {}
            for (name, matcher), i in entries:
                found = groups.get(name, (matcher, 0))
                groups[name] = (matcher, found[1] | (1 << i))
            v = self.value(field)
            for matcher, mask in groups.values():
                body.append(f"    if {v} in {self.const(matcher)}:")
                body.append(f"        m |= {mask}")
        elif kind == "regex":
            self.regex.extend((field, pattern, i) for pattern, i in entries)
        elif kind == "header":
            table = _owners(entries)
            self.uses_hdict = True
            masks, names = self.const(table), self.const(frozenset(table))
            body.append(
                f"    for k in {names}.intersection(hd if hd is not None else map(_name, hs)):"
            )
            body.append(f"        m |= {masks}[k]")
        elif kind == "cookie":  # names never decoded: written literally in a Cookie line
            body.append("    for k, t in hs:")
            body.append("        if k == b'cookie':")
            for key, mask in _owners(entries).items():
                body.append(f"            if {self.const(key)} in t:")
                body.append(f"                m |= {mask}")
        elif kind == "arg":
            self._args(field, _owners(entries))
        else:
            raise AssertionError(kind)  # pragma: no cover

    def _args(self, field: str, owners: dict[bytes, int]) -> None:
        """Argument names: a name written literally in the query; when a *name* holds ``%``
        or ``+`` (it may be encoded), the parsed names (the field's own parser)."""
        q = self.value("http.request.uri.query")
        body = self.body
        encoded = self.const(_ENCODED_NAME.search)
        parsed = self.const(parse_query)
        body.append(f"    if {q}:")
        body.append(f"        if (37 in {q} or 43 in {q}) and {encoded}(b'&' + {q}) is not None:")
        body.append(f"            p = {parsed}({q})")
        for key, mask in owners.items():
            body.append(f"            if {self.const(key)} in p:")
            body.append(f"                m |= {mask}")
        body.append("        else:")
        for key, mask in owners.items():
            body.append(f"            if {self.const(key)} in {q}:")
            body.append(f"                m |= {mask}")

    def scan(self) -> int:
        """Adds the part's joined regex scan to its body; returns the mask of rules that must
        always be candidates instead (patterns that cannot be joined, a set RE2 refuses)."""
        owners: dict[bytes, int] = {}
        fields: list[str] = []
        always = 0
        for field, pattern, i in self.regex:
            if not joinable(pattern):
                always |= 1 << i
                continue
            wrapped = b"(?m:" + pattern + b")"
            owners[wrapped] = owners.get(wrapped, 0) | (1 << i)
            if field not in fields:
                fields.append(field)
        if not owners:
            return always
        every = 0
        for mask in owners.values():
            every |= mask
        compiled = joined_set(owners, SET_MAX_MEM)
        if compiled is None:  # too large for one set: those rules are always evaluated
            return always | every
        set_match, masks = compiled
        values = [self.value(f) for f in fields]
        text = values[0] if len(values) == 1 else f"b'\\n'.join(({', '.join(values)},))"
        scan = scanner(set_match, masks, every, any_matcher(list(owners), SET_MAX_MEM))
        body, fn = self.body, self.const(scan)
        if not self.memo:
            body.append(f"    m |= {fn}({text})")
            return always
        # a request line's text repeats (a page's path, whatever its query): its scan's mask
        # is remembered per index, for short texts (``MAX_SCAN_MEMO*``)
        body.append(f"    text = {text}")
        body.append(f"    if len(text) <= {MAX_SCAN_MEMO_TEXT}:")
        body += _remembered("(_key, text)", "_scans", f"{fn}(text)", MAX_SCAN_MEMO, "    ")
        body.append("    else:")
        body.append(f"        m |= {fn}(text)")
        return always

    def function(self, signature: str) -> list[str]:
        head = [f"def {signature}:", "    m = 0"]
        if self.uses_hdict:
            head.append("    hd = _hdict(ctx)")
        return [*head, *self.reads, *self.body, "    return m", ""]


def _remembered(key: str, table: str, compute: str, cap: int, indent: str = "") -> list[str]:
    """Generated lines: ``m |= `` the mask ``table`` remembers under ``key``, computed by
    ``compute`` the first time; the table is emptied when it holds ``cap`` masks."""
    lines = [
        f"k = {key}",
        f"x = {table}.get(k)",
        "if x is None:",
        f"    x = {compute}",
        f"    if len({table}) >= {cap}:",
        f"        {table}.clear()",
        f"    {table}[k] = x",
        "m |= x",
    ]
    return [f"    {indent}{line}" for line in lines]


def _owners(entries: list[tuple[Any, int]]) -> dict[Any, int]:
    """atom value -> mask of the rules that have it."""
    out: dict[Any, int] = {}
    for v, i in entries:
        out[v] = out.get(v, 0) | (1 << i)
    return out


def _part_of(kind: str, field: str) -> str:
    if kind in ("header", "cookie") or field in _HEADER_FIELD:
        return "header"
    if field == "ip.src":
        return "ip"
    return "request"


def build_probe(
    by_kind: Mapping[tuple[str, str], list[tuple[Any, int]]],
    always_mask: int,
    env: Environment,
) -> tuple[Callable[[RequestContext], int], str, BlockKey, ProbeBody]:
    """``candidates(ctx) -> mask``, its source, the key of its header-part masks on a
    ``HeaderBlock`` and its body (``ProbeBody``). ``by_kind``: (kind, field) -> [(atom value,
    rule index)]."""
    consts: dict[str, Any] = {
        "_hdict": header_dict,
        "_name": _name,
        "_enc": _enc,
        "_first": _first,
        "_cookie": _cookie,
    }
    parts = {
        "header": _Part(consts, env, header=True),
        "ip": _Part(consts, env, header=False),
        "request": _Part(consts, env, header=False, memo=True),
    }
    null_geo = isinstance(env.geo, NullGeoLookup)
    for (kind, field), entries in by_kind.items():
        if kind == "exact" and null_geo and field in _GEO_CONST:
            for value, i in entries:
                if value == _GEO_CONST[field]:
                    always_mask |= 1 << i
            continue
        parts[_part_of(kind, field)].add(kind, field, entries)
    for part in parts.values():
        always_mask |= part.scan()
    key = BlockKey()
    consts["_key"], consts["_ips"], consts["_scans"] = key, _IP_MASKS, _SCAN_MASKS
    header, ip, request = parts["header"], parts["ip"], parts["request"]
    source: list[str] = []
    main = ["def _candidates(ctx):"]
    if header.body:
        source += header.function("_head(ctx, hs)")
        main += [
            "    b = ctx.block",
            "    if b is None:",
            "        m = _head(ctx, ctx.headers)",
            "    else:",
            "        f = b.facts",  # b.derived(_key) without the call
            "        m = None if f is None else f.get(_key)",
            "        if m is None:",
            "            m = _head(ctx, b.headers)",
            "            b.keep(_key, m)",  # an int, 0 included: never None
        ]
        if always_mask:
            main.append(f"    m |= {always_mask}")
    else:
        main.append(f"    m = {always_mask}")
    if ip.body:
        source += ip.function("_by_ip(ctx)")
        address = "(_key, ctx.client_ip or ctx.conn.client_ip)"
        main += _remembered(address, "_ips", "_by_ip(ctx)", MAX_IP_MEMO)
    main += [*request.reads, *request.body]
    text = "\n".join([*source, *main, "    return m"]) + "\n"
    namespace = dict(consts)
    exec(compile(text, "<shieldwall rule index>", "exec"), namespace)  # constants via globals
    fn: Callable[[RequestContext], int] = namespace["_candidates"]
    return fn, text, key, ProbeBody(tuple(main[1:]), namespace)


class ProbeBody:
    """The lines of ``_candidates`` that leave the mask in a local ``m``, and the globals they
    read: a caller generates its own function around them (``define``), e.g. a filter that
    returns at once when ``m`` is 0, without a call to the probe."""

    __slots__ = ("lines", "namespace")

    def __init__(self, lines: tuple[str, ...], namespace: dict[str, Any]) -> None:
        self.lines = lines
        self.namespace = namespace

    def define(
        self, prologue: list[str], epilogue: list[str], consts: Mapping[str, Any]
    ) -> Callable[[RequestContext], Any]:
        """``def run(ctx):`` with ``prologue``, the probe's lines and ``epilogue`` (each
        indented by four spaces); ``consts`` join the probe's globals (names must not clash:
        the probe's own start with ``_k``, ``_head``, ``_by_ip`` ...)."""
        namespace = dict(self.namespace)
        assert not namespace.keys() & consts.keys()
        namespace.update(consts)
        text = "\n".join(["def run(ctx):", *prologue, *self.lines, *epilogue]) + "\n"
        exec(compile(text, "<shieldwall rule filter>", "exec"), namespace)  # ours only
        fn: Callable[[RequestContext], Any] = namespace["run"]
        return fn
