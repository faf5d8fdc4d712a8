"""Strict, type-driven decoding of TOML data into the frozen dataclasses of ``config/model.py``.

Theory: the model is the schema. ``decode(Config, data)`` walks the dataclass type hints
(``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]``,
``dict[str, X]``, nested dataclasses) and the TOML value side by side. Fields named in
``config/fields.py:FIELD_RULES`` are read by their rule instead (units, ranges, syntax).

Invariants:

* Strict: a key the model does not have, a value of the wrong type, a value out of range or a
  missing required key is an error. Nothing is silently ignored or coerced (``1`` is not
  ``true``; ``"80"`` is not a port). An unknown key gets a "did you mean" from the known ones.
* Every error names its key path in one form used everywhere: dotted keys and 0-based array
  indexes, ``zones[1].origins[0].port``. Keys that are not bare TOML keys are quoted:
  ``headers."X-Foo"``.
* Errors are collected, not raised one by one: a failed field takes its default (or an empty
  placeholder) so decoding continues and one run reports everything. ``failed`` remembers
  which paths failed so later cross-field checks can stay quiet about them.
* Pure: no I/O except what a rule documents (none today); safe to run on untrusted input of
  any shape (bounded by the input: every step consumes a piece of it).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from shieldwall.config.fields import FAILED, FIELD_RULES, Rule
from shieldwall.config.units import toml_type_name
from shieldwall.errors import ConfigError

__all__ = ["Decoder", "join_key"]

T = TypeVar("T")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_SUGGESTED = 12  # known keys listed in an "unknown key" message


def join_key(path: str, key: str) -> str:
    """``zones[0]`` + ``limits`` -> ``zones[0].limits``; odd keys quoted as TOML would."""
    shown = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{path}.{shown}" if path else shown


def _unknown_key_reason(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    listed = ", ".join(sorted(known)[:_MAX_SUGGESTED])
    more = ", ..." if len(known) > _MAX_SUGGESTED else ""
    return f"unknown key (expected one of: {listed}{more})"


def _is_optional(hint: Any) -> tuple[bool, Any]:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return True, args[0]
        raise TypeError(f"unsupported union in config model: {hint!r}")
    return False, hint


class Decoder:
    """One decoding pass. ``errors`` and ``failed`` accumulate; nothing raises mid-way."""

    def __init__(self, base_dir: str, rules: Mapping[tuple[type, str], Rule] = FIELD_RULES):
        self.base_dir = base_dir
        self.rules = rules
        self.errors: list[ConfigError] = []
        self.failed: set[str] = set()

    # -- error bookkeeping -------------------------------------------------------------------

    def error(self, path: str, reason: str) -> None:
        self.errors.append(ConfigError(path, reason))
        self.failed.add(path)

    def failed_under(self, path: str) -> bool:
        """Whether ``path`` or anything inside it failed to decode."""
        return any(
            p == path or p.startswith(path + ".") or p.startswith(path + "[") for p in self.failed
        )

    # -- decoding ----------------------------------------------------------------------------

    def decode(self, cls: type[T], raw: object, path: str = "") -> T:
        """``raw`` (a ``tomllib`` table) as ``cls``; always returns an instance."""
        value = self._dataclass(cls, raw, path)
        return typing.cast(T, value)

    def _dataclass(self, cls: type[Any], raw: object, path: str) -> Any:
        if not isinstance(raw, dict):
            self.error(path, f"expected a table, got {toml_type_name(raw)}")
            return _placeholder(cls)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in raw:
            if key not in fields:
                self.error(join_key(path, key), _unknown_key_reason(key, list(fields)))
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            sub = join_key(path, name)
            if name in raw:
                rule = self.rules.get((cls, name))
                if rule is not None:
                    value = rule.decode(raw[name], sub, self)
                else:
                    value = self._value(hints[name], raw[name], sub)
                if value is FAILED:
                    value = _fallback(f, hints[name])
                kwargs[name] = value
            elif _required(f):
                self.error(sub, "required key is missing")
                kwargs[name] = _placeholder(hints[name])
        return cls(**kwargs)

    def _value(self, hint: Any, raw: object, path: str) -> Any:
        _, hint = _is_optional(hint)  # TOML has no null: a present value is never None
        origin = get_origin(hint)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self._dataclass(hint, raw, path)
        if origin is Literal:
            choices = get_args(hint)
            if isinstance(raw, str) and raw in choices:
                return raw
            listed = ", ".join(repr(c) for c in choices)
            self.error(path, f"expected one of {listed}, got {toml_type_name(raw)}")
            return FAILED
        if origin is tuple:
            args = get_args(hint)
            if len(args) != 2 or args[1] is not Ellipsis:
                raise TypeError(f"only tuple[X, ...] is supported in the config model: {hint!r}")
            if not isinstance(raw, list):
                self.error(path, f"expected an array, got {toml_type_name(raw)}")
                return FAILED
            items = [self._value(args[0], v, f"{path}[{i}]") for i, v in enumerate(raw)]
            return tuple(v for v in items if v is not FAILED)
        if origin is dict:
            key_type, value_type = get_args(hint)
            if key_type is not str:
                raise TypeError(f"only dict[str, X] is supported in the config model: {hint!r}")
            if not isinstance(raw, dict):
                self.error(path, f"expected a table, got {toml_type_name(raw)}")
                return FAILED
            out = {k: self._value(value_type, v, join_key(path, k)) for k, v in raw.items()}
            return {k: v for k, v in out.items() if v is not FAILED}
        return self._scalar(hint, raw, path)

    def _scalar(self, hint: Any, raw: object, path: str) -> Any:
        if hint is bool:
            ok = isinstance(raw, bool)
            want = "a boolean (true or false)"
        elif hint is int:
            ok = isinstance(raw, int) and not isinstance(raw, bool)
            want = "an integer"
        elif hint is float:
            ok = isinstance(raw, int | float) and not isinstance(raw, bool)
            want = "a number"
            if ok:
                raw = float(typing.cast(float, raw))
        elif hint is str:
            ok = isinstance(raw, str)
            want = "a string"
        else:
            raise TypeError(f"unsupported type in config model at {path}: {hint!r}")
        if not ok:
            self.error(path, f"expected {want}, got {toml_type_name(raw)}")
            return FAILED
        return raw


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _fallback(f: dataclasses.Field[Any], hint: Any) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return _placeholder(hint)


def _placeholder(hint: Any) -> Any:
    """A value of type ``hint`` standing in for one that failed (never reaches a Config)."""
    optional, hint = _is_optional(hint)
    if optional:
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        return hint(
            **{
                f.name: _placeholder(hints[f.name])
                for f in dataclasses.fields(hint)
                if _required(f)
            }
        )
    origin = get_origin(hint)
    if origin is Literal:
        return get_args(hint)[0]
    if origin is tuple:
        return ()
    if origin is dict:
        return {}
    return {bool: False, int: 0, float: 0.0, str: ""}[hint]
