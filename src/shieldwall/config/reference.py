"""The config reference (``docs/config.md``), generated from the model so it cannot drift.

Sources of truth: the dataclasses of ``config/model.py`` give keys, types and defaults; a
field's trailing ``# comment`` (or a comment line just above it) gives its meaning and the
class docstring the section's; ``config/fields.py`` gives accepted values. ``shieldwall config
docs`` prints the result; a test checks ``docs/config.md`` equals it and that every field has
a meaning.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize
import typing
from typing import Any, Literal, get_args, get_origin

from shieldwall.config import model
from shieldwall.config.fields import FIELD_RULES, Scalar
from shieldwall.config.units import format_duration, format_size

__all__ = ["field_comments", "render_markdown"]

_INTRO = """\
# Configuration reference

shieldwall reads one TOML file: `shieldwall run -c shieldwall.toml`. Check a file without
running it with `shieldwall config validate shieldwall.toml`. A commented example is in
[`examples/shieldwall.toml`](../examples/shieldwall.toml).

This page is generated from `src/shieldwall/config/model.py` and `config/fields.py`
(`shieldwall config docs > docs/config.md`); a test fails when it is out of date.

## Rules of the file

* **Strict.** A key shieldwall does not know is an error, as is a value of the wrong type
  (`port = "80"`, `tls = 1`) or out of range. Sections that later versions add (`[cache]`,
  `[shield]`, `[rules]`, `[control]`) are errors until then.
* **Every error at once.** Each error names its key path, dotted keys with 0-based array
  indexes: `zones[1].origins[0].port: must be between 1 and 65535, got 0`.
* **Durations** are a number of seconds (`10`, `0.5`) or a string of number+unit parts,
  largest first: `"500ms"`, `"10s"`, `"2m"`, `"1h"`, `"1m30s"` (units `ms`, `s`, `m`, `h`).
* **Sizes** are an integer number of bytes (`65536`) or a string: `"512B"`, `"64KiB"`,
  `"1.5MiB"`, `"100MB"`. `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024, `KB`/`MB`/`GB`/`TB`
  powers of 1000; units are case-insensitive; the result must be a whole number of bytes.
* **Paths** (certificates, `data_dir`, `access_log.path`) are relative to the config file's
  directory; `~` is expanded.
* **Hosts** are lower-cased with any trailing dot removed. `*.example.com` matches any name
  ending in `.example.com` (one or more labels) but not `example.com` itself; `*` is only
  allowed as the whole first label. IP addresses are allowed (`127.0.0.1`, `[::1]`). A host
  belongs to at most one zone. Write internationalised names in `xn--` form.
* **Certificates** are PEM files; the certificate and key must exist, load, and match. Keys
  must not be encrypted. A listener with `tls = true` needs `[default_certificate]` or at
  least one zone `[zones.certificate]`.
"""


def field_comments(cls: type) -> tuple[str, dict[str, str]]:
    """``(class docstring, {field: trailing comment})`` read from the class's source."""
    source = inspect.getsource(cls)
    comments: dict[int, str] = {}  # line -> trailing comment
    above: dict[int, str] = {}  # line -> comment alone on the line before it
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            if tok.line.strip().startswith("#"):
                above[tok.start[0] + 1] = text
            else:
                comments[tok.start[0]] = text
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    out: dict[str, str] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            trailing = comments.get(stmt.end_lineno or stmt.lineno)
            out[stmt.target.id] = trailing or above.get(stmt.lineno, "")
    doc = " ".join((ast.get_docstring(node) or "").split())
    return doc, out


def _strip_optional(hint: Any) -> Any:
    args = [a for a in get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and len(get_args(hint)) == 2 else hint


def _section_type(hint: Any) -> tuple[type, bool] | None:
    """``(dataclass, is_array)`` if ``hint`` is a sub-table or an array of tables."""
    hint = _strip_optional(hint)
    if get_origin(hint) is tuple:
        inner = get_args(hint)[0]
        if dataclasses.is_dataclass(inner) and isinstance(inner, type):
            return inner, True
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint, False
    return None


def _type_text(cls: type, name: str, hint: Any) -> str:
    rule = FIELD_RULES.get((cls, name))
    if rule is not None:
        return rule.doc
    hint = _strip_optional(hint)
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(f'`"{c}"`' for c in get_args(hint))
    if get_origin(hint) is tuple:
        return "array of " + _type_text(cls, "", get_args(hint)[0]) + "s"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(hint, str(hint))


def _default_text(cls: type, f: dataclasses.Field[Any]) -> str:
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return "required"
    value: Any
    if f.default is not dataclasses.MISSING:
        value = f.default
    else:
        factory: Any = f.default_factory
        value = factory()
    rule = FIELD_RULES.get((cls, f.name))
    kind = rule.kind if isinstance(rule, Scalar) else ""
    if value is None:
        return "unset"
    if kind == "duration":
        return f'`"{format_duration(value)}"`'
    if kind == "size":
        return f'`"{format_size(value)}"`'
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if value == ():
        return "`[]`"
    return f"`{value!r}`"


def _section_default(f: dataclasses.Field[Any]) -> str:
    if f.default is None:
        return "unset"
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return "required"
    if isinstance(f.default, tuple):
        n = len(f.default)
        return "none" if n == 0 else f"{n} with the defaults below"
    return "the defaults below"


def _row(*cells: str) -> str:
    return "| `" + cells[0] + "` | " + " | ".join(c.replace("|", "\\|") for c in cells[1:]) + " |"


def _sections(cls: type, header: str, is_array: bool, out: list[str]) -> None:
    doc, comments = field_comments(cls)
    hints = typing.get_type_hints(cls)
    title = f"[[{header}]]" if is_array else f"[{header}]" if header else "Top level"
    out.append(f"## `{title}`" if header else f"## {title}")
    out.append("")
    if doc:
        out.append(doc)
        out.append("")
    out.append("| key | accepted values | default | meaning |")
    out.append("|---|---|---|---|")
    children: list[tuple[type, str, bool]] = []
    for f in dataclasses.fields(cls):
        section = _section_type(hints[f.name])
        if section is not None:
            child, child_array = section
            child_header = f"{header}.{f.name}" if header else f.name
            children.append((child, child_header, child_array))
            brackets = f"[[{child_header}]]" if child_array else f"[{child_header}]"
            kind = "array of tables" if child_array else "table"
            default = _section_default(f)
            out.append(_row(f.name, f"{kind}, see `{brackets}`", default, comments[f.name]))
            continue
        out.append(
            _row(
                f.name,
                _type_text(cls, f.name, hints[f.name]),
                _default_text(cls, f),
                comments[f.name],
            )
        )
    out.append("")
    for child, child_header, child_array in children:
        _sections(child, child_header, child_array, out)


def render_markdown() -> str:
    """The whole of ``docs/config.md``."""
    out = [_INTRO]
    _sections(model.Config, "", False, out)
    return "\n".join(out).rstrip("\n") + "\n"
