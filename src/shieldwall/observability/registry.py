"""Named counter and gauge families other subsystems register (shield, WAF, cache, challenge).

``registry.counter("challenges_issued_total", "help", ("zone",)).inc(("example",))``: created
once at service start (idempotently by name), shipped with every metrics delta
(``RequestMetrics.take_delta``) and rendered by name. Bounded: ``MAX_FAMILIES`` families of
``MAX_FAMILY_ROWS`` label sets each (increments beyond are counted as ``overflow``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from shieldwall.observability.snapshot import MAX_FAMILIES, MAX_FAMILY_ROWS, CounterFamilyDelta

__all__ = ["Family", "MetricsRegistry"]

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,99}\Z")


class Family:
    """A named counter (increments) or gauge (current value) with fixed label names."""

    __slots__ = ("help", "kind", "labels", "name", "overflow", "values")

    def __init__(
        self, name: str, kind: Literal["counter", "gauge"], help: str, labels: tuple[str, ...]
    ) -> None:
        if not _NAME.match(name) or not all(_NAME.match(x) for x in labels):
            raise ValueError(f"bad metric or label name in {name!r} {labels!r}")
        self.name, self.kind, self.help, self.labels = name, kind, help, labels
        self.values: dict[tuple[str, ...], float] = {}
        self.overflow = 0  # increments refused because the family was full

    def inc(self, labels: tuple[str, ...] = (), n: float = 1) -> None:
        v = self.values
        if labels in v:
            v[labels] += n
        elif len(v) < MAX_FAMILY_ROWS and len(labels) == len(self.labels):
            v[labels] = n
        else:
            self.overflow += 1

    def set(self, labels: tuple[str, ...], value: float) -> None:
        if labels in self.values or len(self.values) < MAX_FAMILY_ROWS:
            self.values[labels] = value


class MetricsRegistry:
    """Named families, created once (idempotently by name) and shipped with every delta."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}
        self._gauge_fns: dict[str, tuple[str, Callable[[], float]]] = {}

    def _family(
        self, name: str, kind: Literal["counter", "gauge"], help: str, labels: tuple[str, ...]
    ) -> Family:
        f = self._families.get(name)
        if f is not None:
            if f.kind != kind or f.labels != labels:
                raise ValueError(f"metric {name!r} already registered as {f.kind} {f.labels}")
            return f
        if len(self._families) + len(self._gauge_fns) >= MAX_FAMILIES:
            raise ValueError(f"too many metric families (max {MAX_FAMILIES})")
        f = self._families[name] = Family(name, kind, help, labels)
        return f

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
        return self._family(name, "counter", help, labels)

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
        return self._family(name, "gauge", help, labels)

    def gauge_fn(self, name: str, help: str, fn: Callable[[], float]) -> None:
        """A label-less gauge read when a delta is taken (e.g. active connections)."""
        if not _NAME.match(name) or name in self._families:
            raise ValueError(f"bad or duplicate metric name {name!r}")
        self._gauge_fns[name] = (help, fn)

    def take(self) -> tuple[CounterFamilyDelta, ...]:
        """Counter increments since the last take (reset) and current gauge values."""
        out = []
        for f in self._families.values():
            rows = tuple(f.values.items())
            if f.kind == "counter":
                f.values = {}
                if not rows:
                    continue
            out.append(CounterFamilyDelta(f.name, f.kind, f.help, f.labels, rows))
        for name, (help, fn) in self._gauge_fns.items():
            out.append(CounterFamilyDelta(name, "gauge", help, (), (((), float(fn())),)))
        return tuple(out)
