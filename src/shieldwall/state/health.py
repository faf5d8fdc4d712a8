"""One node's view of whether the shared state backend is reachable, logged once per outage.

Several background jobs of one node talk to the backend (the counter flush of ``sync.py``, the
fleet ban subscription, single-use records, the signing-secret adoption). When Redis goes away
they all fail at about the same time, and keep failing on every retry. An operator needs one
line saying "the fleet link is down, deciding locally", and one line when it is back, not one
per job, per retry or per request (STYLE.md #11).

``BackendHealth`` is that shared edge detector: ``failed`` logs a WARNING only on the
healthy -> down transition; ``recovered`` logs an INFO only on down -> healthy. Only a job that
actually completed a round trip may call ``recovered`` (a flush with nothing to send proves
nothing). ``failures`` counts every failed operation, for metrics and tests.
"""

from __future__ import annotations

import logging

__all__ = ["BackendHealth"]

log = logging.getLogger(__name__)


class BackendHealth:
    __slots__ = ("failures", "healthy", "log", "name", "outages")

    def __init__(self, name: str = "state backend", logger: logging.Logger | None = None) -> None:
        self.name = name
        self.log = logger or log  # the owner's logger, so its level settings apply
        self.healthy = True
        self.failures = 0  # failed operations, all jobs together
        self.outages = 0  # healthy -> down transitions

    def failed(self, job: str, exc: BaseException) -> None:
        self.failures += 1
        if self.healthy:
            self.healthy = False
            self.outages += 1
            self.log.warning(
                "%s unreachable (%s in %s): deciding on local state until it returns",
                self.name,
                type(exc).__name__,
                job,
            )

    def recovered(self, job: str) -> None:
        if not self.healthy:
            self.healthy = True
            self.log.info("%s reachable again (%s): fleet state resynced", self.name, job)
