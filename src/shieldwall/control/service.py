"""``ControlService``: the current config and the one pipeline every change goes through.

Change pipeline (``change`` / ``commit``), serialised by one lock:

1. take the current version's TOML document as data (``tomllib``), let the caller edit a copy;
2. write it back to TOML (``tomlw.dumps``) and run it through ``parse_config`` -- the very code
   a config file goes through. Errors -> ``HttpError(422)`` listing ``{path, reason}``; nothing
   is stored or applied;
3. hand the new ``Config`` to ``apply`` (the supervisor reloads its workers); a refusal there
   (listeners or worker count changed) is a 422 too, and again nothing is stored;
4. store it as version N+1 with who/when/why and, in the same transaction, an audit entry
   carrying the unified diff.

An edit that produces the current text changes nothing and creates no version. ``apply`` runs
before the version is recorded so the store never claims a config the edge refused.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shieldwall.config.load import parse_config
from shieldwall.config.model import Config
from shieldwall.control.api.types import HttpError
from shieldwall.control.ratelimit import SlidingLimiter
from shieldwall.control.store import Store, Version
from shieldwall.control.tomlw import dumps, problems
from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.observability.logging import get_logger

__all__ = ["ApplyFn", "Change", "ControlService", "PurgeFn", "config_errors", "unified_diff"]

log = get_logger(__name__)

ApplyFn = Callable[[Config, str], Awaitable[None]]  # (config, its TOML); ConfigError: refused
# (zone, kind, values) -> one result per worker ({worker, count} or {worker, error}); raises
# HttpError when the edge cannot be asked (no edge attached, supervisor silent or refusing)
PurgeFn = Callable[[str, str, list[str]], Awaitable[list[dict[str, Any]]]]
Edit = Callable[[dict[str, Any]], Any]
MAX_REPORTED = 100  # errors listed in one 422 answer


@dataclass(frozen=True, slots=True)
class Change:
    """Who asks for a change and why (the audit record's subject)."""

    actor: str
    client_ip: str
    action: str  # e.g. zone.update, rules.add, legal.create, config.rollback
    zone: str = ""
    target: str = ""
    reason: str = ""
    detail: dict[str, Any] | None = None


def config_errors(exc: ConfigError) -> list[dict[str, str]]:
    errs = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    return [{"path": e.path, "reason": e.reason} for e in errs]


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


async def _no_apply(config: Config, text: str) -> None:
    """Apply callback of a control plane without an edge (tests, `config` tooling)."""


class ControlService:
    def __init__(
        self,
        store: Store,
        current: Version,
        config: Config,
        *,
        base_dir: str,
        apply: ApplyFn = _no_apply,
        run_db: Callable[..., Awaitable[Any]] | None = None,
        purge: PurgeFn | None = None,
    ) -> None:
        self.store = store
        self.base_dir = base_dir
        self.apply = apply
        self.purge = purge  # None: no edge attached (tests, tooling): purges answer 501
        self._version = current
        self.config = config
        self._lock = asyncio.Lock()
        self._run_db = run_db
        cc = config.control
        self.purge_limiter = SlidingLimiter(cc.purge_per_minute, 60.0)
        self.abuse_limiter = SlidingLimiter(cc.abuse_per_hour, 3600.0)

    def bind_db(self, run_db: Callable[..., Awaitable[Any]]) -> None:
        self._run_db = run_db

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._run_db is None:
            return fn(*args)
        return await self._run_db(fn, *args)

    @property
    def current_version(self) -> int:
        return self._version.id

    @property
    def text(self) -> str:
        return self._version.toml

    def document(self) -> dict[str, Any]:
        """The current config as TOML data (what edits start from)."""
        return tomllib.loads(self._version.toml)

    # -- the pipeline ------------------------------------------------------------------------

    async def change(self, who: Change, edit: Edit) -> tuple[Version, Any]:
        """Edit a copy of the current document and commit it. ``edit`` may raise HttpError
        (404/409) before anything happens; its return value is passed back."""
        async with self._lock:
            doc = copy.deepcopy(self.document())
            result = edit(doc)
            bad = problems(doc)
            if bad:
                errors = [{"path": p, "reason": r} for p, r in bad[:MAX_REPORTED]]
                raise HttpError(422, "the change was rejected; nothing changed", errors=errors)
            version = await self._commit(dumps(doc), who, source="api")
            return version, result

    async def commit_text(
        self, text: str, who: Change, *, source: str, file_sha: str = ""
    ) -> Version:
        async with self._lock:
            return await self._commit(text, who, source=source, file_sha=file_sha)

    async def _commit(self, text: str, who: Change, *, source: str, file_sha: str = "") -> Version:
        current = self._version
        if text == current.toml:
            return current
        try:
            config = parse_config(
                text, source=f"{who.action} by {who.actor}", base_dir=self.base_dir
            )
        except ConfigErrors as e:
            raise HttpError(
                422, "the change was rejected; nothing changed", errors=config_errors(e)
            ) from None
        try:
            await self.apply(config, text)
        except ConfigError as e:
            raise HttpError(
                422, f"the edge refused the change: {e}", errors=config_errors(e)
            ) from None
        diff = unified_diff(current.toml, text, f"v{current.id}", f"v{current.id + 1}")
        audit = {
            "action": who.action,
            "zone": who.zone,
            "target": who.target,
            "detail": who.detail or {},
            "diff": diff,
        }
        version: Version = await self.db(
            lambda: self.store.add_version(
                text,
                actor=who.actor,
                client_ip=who.client_ip,
                source=source,
                reason=who.reason or who.action,
                file_sha=file_sha,
                audit=audit,
            )
        )
        self._version, self.config = version, config
        log.info("config version %d applied (%s by %s)", version.id, who.action, who.actor)
        return version

    async def record(self, who: Change) -> None:
        """An audit entry for an action that is not a config change (purge, abuse, tokens)."""
        await self.db(
            lambda: self.store.audit(
                actor=who.actor,
                client_ip=who.client_ip,
                action=who.action,
                zone=who.zone,
                target=who.target,
                detail=who.detail,
                version=self._version.id,
            )
        )

    async def rollback(self, to: int, who: Change) -> Version:
        old: Version | None = await self.db(self.store.version, to)
        if old is None:
            raise HttpError(404, f"no config version {to}")
        return await self.commit_text(old.toml, who, source="rollback")
