"""The supervisor: owns the listening sockets, forks the workers, restarts, reloads, stops.

Theory of operation
-------------------
At start the supervisor validates the config (``build_runtime``), then creates *every*
listening socket: per listener one reuseport group of ``config.workers`` sockets with the
steering program attached (``reuseport.py``). It keeps them all open for its whole life. Worker
``i`` is forked with socket ``i`` of every group; when it dies, its replacement gets the very
same sockets, so the kernel's socket index -> worker mapping (and therefore "a client IP always
meets the same worker") survives restarts, and connections that arrive while a worker is down
wait in its socket's backlog instead of being reset. ``workers = 1`` still forks one worker:
one code path, and a crash of the data path is restarted the same way.

Events are handled by one single-threaded loop over ``select``: signals (their Python
handlers only record the number; ``signal.set_wakeup_fd`` wakes the loop), JSON messages from
workers on per-worker socketpairs (``ipc.py``), and timers (restart backoff, stop deadline).

- **Crash**: a worker that dies is restarted after a backoff: 0.1 s, doubling for every
  consecutive death within ``STABLE_AFTER`` seconds of its start, capped at ``MAX_BACKOFF``;
  a crash loop costs a fork every 30 s, not a spinning CPU.
- **SIGHUP**: re-read the config file with ``load_config``. On any error, log it (with the key
  path) and keep serving the running version. Listeners and worker count cannot change
  without a restart (sockets are made once); such a config is *refused* with a message saying
  so. Otherwise version += 1 and the new ``Config`` is sent to every worker, which acknowledges.
- **SIGTERM / SIGINT**: forward SIGTERM to the workers, close the supervisor's copies of the
  sockets, wait for the workers to drain (``shutdown_grace`` + ``STOP_MARGIN``; SIGKILL after
  that) and return 0. A second SIGTERM/SIGINT kills the workers at once -- if it comes at least
  ``ESCALATE_AFTER`` seconds later: tools such as ``timeout`` or a terminal's Ctrl-C deliver the
  same signal to the whole process group, and that duplicate must not cut the drain short.

Readiness: when every worker has reported ``ready`` the supervisor logs one line
``ready version=1 workers=2 listeners=127.0.0.1:8080,...`` (and writes it to ``ready_fd``).

Sidecar (the control plane): ``sidecar`` is an entry point the supervisor forks into its own
process, like a worker but without the listening sockets, restarted with the same backoff.
The edge does not know what it is (edge/ never imports control/); the contract is the JSON
messages on its socketpair: ``ready {address}`` (then ``control=ADDRESS`` is appended to the
ready line, which waits for it), ``apply {id, toml}`` -> the text is parsed with
``parse_config`` exactly like the file and ``reload``-ed; the answer is ``applied {id,
version}`` or ``apply_failed {id, errors: [{path, reason}]}``. With a sidecar, SIGHUP is
forwarded to it as ``sighup`` (it owns the config versions, so a changed file becomes a new
version there and comes back as ``apply``). ``purge {id, kind, zone, values}`` is validated and
fanned out to every running worker (``purge.py``); when all have answered, or after
``PURGE_DEADLINE``, the sidecar gets ``purged {id, workers: [{worker, count | error}]}``.
``list_bans {id}`` and ``unban {id, target}`` (``bans_ops.py``) travel the same way: every
order of the table ``fanout_ops.FANOUT_OPS`` shares the one fan-out path and bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from shieldwall.config.model import Config
from shieldwall.edge.backoff import DEFAULT_RESTART_POLICY, RestartPolicy
from shieldwall.edge.fanout_ops import ANSWERS, FANOUT_OPS, FanoutOp
from shieldwall.edge.ipc import FrameDecoder, encode_json, encode_pickle
from shieldwall.edge.purge import PurgeFanout
from shieldwall.edge.reuseport import ListenerGroup, create_all
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.worker import WorkerSpec, worker_main
from shieldwall.errors import ConfigError, ConfigErrors
from shieldwall.observability.logging import clip, get_logger, set_process_tag, setup_logging

__all__ = ["RestartPolicy", "Supervisor", "serve"]

log = get_logger(__name__)

STOP_MARGIN = 5.0  # seconds beyond shutdown_grace before remaining workers are killed
CONTROL_SEND_TIMEOUT = 2.0  # seconds a reload frame may take to reach a worker
ESCALATE_AFTER = 1.0  # seconds: a repeated stop signal sooner than this is a duplicate
MAX_SELECT_WAIT = 1.0  # also reap children at least this often (a SIGCHLD can coalesce)
EXIT_OK, EXIT_FAILED, EXIT_CHILD_CRASHED = 0, 2, 70
_HANDLED = (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


@dataclass(slots=True)
class _Slot:
    index: int
    pid: int = 0  # 0: not running
    control: socket.socket | None = None
    decoder: FrameDecoder = field(default_factory=lambda: FrameDecoder(allow_pickle=False))
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    ready: bool = False
    version: int = 0
    restarts: int = 0


WorkerEntry = Callable[[WorkerSpec], int]
SidecarEntry = Callable[[socket.socket], int]  # runs in a forked child; returns its exit code
SIDECAR = -1  # slot index of the sidecar


class Supervisor:
    def __init__(
        self,
        config: Config,
        config_path: str | None,
        *,
        ready_fd: int | None = None,
        worker_entry: WorkerEntry = worker_main,
        policy: RestartPolicy = DEFAULT_RESTART_POLICY,
        sidecar: SidecarEntry | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.version = 1
        self._ready_fd = ready_fd
        self._entry = worker_entry
        self._policy = policy
        self._groups: list[ListenerGroup] = []
        self._slots = [_Slot(i) for i in range(config.workers)]
        self._sidecar_entry = sidecar
        self._sidecar = _Slot(SIDECAR) if sidecar is not None else None
        self._sidecar_address = ""
        self._sel = selectors.DefaultSelector()
        self._signals: list[int] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._announced = False
        self._stopping = False
        self._stop_deadline: float | None = None
        self._stop_started = 0.0
        self._fanouts = PurgeFanout()  # purges, ban listings and lifts (fanout_ops.py)
        # where workers' "metrics" frames go (the control plane host sets it); None: dropped
        self.metrics_sink: Callable[[dict[str, object]], None] | None = None
        if sidecar is not None:  # the control plane (a sidecar process) consumes them
            self.metrics_sink = self._send_sidecar

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> int:
        try:
            build_runtime(self.config, self.version)
            self._groups = create_all(self.config.listeners, self.config.workers)
        except ConfigError as exc:
            log.error("cannot start: %s", exc)
            return EXIT_FAILED
        except OSError as exc:
            log.error("cannot listen: %s", exc)
            return EXIT_FAILED
        self._install_signals()
        try:
            for slot in self._all_slots():
                self._spawn(slot)
            while not (self._stopping and not any(s.pid for s in self._all_slots())):
                self._step()
        finally:
            self._cleanup()
        log.info("supervisor stopped")
        return EXIT_OK

    def _step(self) -> None:
        now = time.monotonic()
        deadlines = [s.restart_at for s in self._all_slots() if s.restart_at is not None]
        if self._stop_deadline is not None:
            deadlines.append(self._stop_deadline)
        if (fanout_deadline := self._fanouts.next_deadline()) is not None:
            deadlines.append(fanout_deadline)
        timeout = min([MAX_SELECT_WAIT, *(max(0.0, d - now) for d in deadlines)])
        for key, _ in self._sel.select(timeout):
            if key.fileobj is self._wake_r:
                self._drain_wakeups()
            else:
                self._on_control(key.data)
        while self._signals:
            self._on_signal(self._signals.pop(0))
        self._reap()
        now = time.monotonic()
        for done in self._fanouts.expire(now):
            self._fanout_done(done)
        for slot in self._all_slots():
            if slot.restart_at is not None and now >= slot.restart_at and not self._stopping:
                slot.restart_at = None
                try:
                    self._spawn(slot)
                except OSError as exc:  # fork/socketpair failed (EAGAIN, EMFILE): try later
                    slot.failures += 1
                    slot.restart_at = now + self._policy.delay(slot.failures)
                    log.error("cannot start worker %d: %s; retrying", slot.index, exc)
        if self._stop_deadline is not None and now >= self._stop_deadline:
            self._stop_deadline = None
            live = [s for s in self._slots if s.pid]
            if live:
                log.warning("%d workers still draining after the grace period: killing", len(live))
                self._kill_all(signal.SIGKILL)

    def _all_slots(self) -> list[_Slot]:
        return [*self._slots, self._sidecar] if self._sidecar is not None else self._slots

    def _install_signals(self) -> None:
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for sig in _HANDLED:
            signal.signal(sig, self._record_signal)

    def _record_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass  # drained: every signal number is also in self._signals

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            if self._sidecar is not None and self._sidecar.control is not None:
                self._send_sidecar({"type": "sighup"})
            else:
                self.reload_from_file()
        elif signum in (signal.SIGTERM, signal.SIGINT):
            self._begin_stop(signal.Signals(signum).name)
        # SIGCHLD: _reap runs on every step

    # -- workers -----------------------------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        parent_end, child_end = socket.socketpair()
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            try:
                pid = os.fork()
            except OSError:
                parent_end.close()
                child_end.close()
                raise
            if pid == 0:  # pragma: no cover - runs in the child
                rc = EXIT_CHILD_CRASHED
                try:
                    parent_end.close()
                    if slot.index == SIDECAR:
                        rc = self._become_sidecar(child_end)
                    else:
                        rc = self._become_worker(slot.index, child_end)
                except BaseException:
                    log.exception("worker %d crashed", slot.index)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(rc)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        child_end.close()
        parent_end.settimeout(CONTROL_SEND_TIMEOUT)
        slot.pid, slot.control, slot.ready = pid, parent_end, False
        slot.decoder = FrameDecoder(allow_pickle=False)
        slot.started_at = time.monotonic()
        self._sel.register(parent_end, selectors.EVENT_READ, slot)
        log.debug("worker %d started (pid %d)", slot.index, pid)

    def _become_sidecar(self, control: socket.socket) -> int:  # pragma: no cover
        self._become_child()
        for group in self._groups:
            group.close()
        set_process_tag("control")
        assert self._sidecar_entry is not None
        return self._sidecar_entry(control)

    def _become_child(self) -> None:  # pragma: no cover
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        for other in self._all_slots():
            if other.control is not None:
                other.control.close()

    def _become_worker(self, index: int, control: socket.socket) -> int:  # pragma: no cover
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's own handler
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        for other in self._all_slots():
            if other.control is not None:
                other.control.close()
        bindings = []
        for group in self._groups:
            for i, sock in enumerate(group.sockets):
                if i == index:
                    bindings.append((group.config, sock))
                else:
                    sock.close()
        set_process_tag(f"worker {index}")
        spec = WorkerSpec(index, self.config, self.version, bindings, control)
        return self._entry(spec)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self._all_slots() if s.pid == pid), None)
            if slot is not None:
                self._on_exit(slot, os.waitstatus_to_exitcode(status))

    def _on_exit(self, slot: _Slot, code: int) -> None:
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        if slot.control is not None:
            self._sel.unregister(slot.control)
            slot.control.close()
        pid, slot.pid, slot.control, slot.ready = slot.pid, 0, None, False
        name = "control plane" if slot.index == SIDECAR else f"worker {slot.index}"
        if self._stopping:
            log.info("%s (pid %d) %s", name, pid, how)
            return
        lifetime = time.monotonic() - slot.started_at
        slot.failures = self._policy.next_failures(slot.failures, lifetime)
        delay = self._policy.delay(slot.failures)
        slot.restart_at = time.monotonic() + delay
        slot.restarts += 1
        log.error(
            "%s (pid %d) %s after %.1fs; restarting in %.1fs",
            name, pid, how, lifetime, delay,
        )  # fmt: skip

    def _on_control(self, slot: _Slot) -> None:
        assert slot.control is not None
        try:
            data = slot.control.recv(65536)
        except (BlockingIOError, TimeoutError):
            return
        except OSError as exc:
            log.error("worker %d control socket: %s", slot.index, exc)
            data = b""
        if not data:  # the worker is exiting; _reap will see it
            self._sel.unregister(slot.control)
            slot.control.close()
            slot.control = None
            return
        try:
            messages = slot.decoder.feed(data)
        except ValueError as exc:
            log.error("worker %d sent a bad frame (%s): killing it", slot.index, exc)
            os.kill(slot.pid, signal.SIGKILL)
            return
        for msg in messages:
            if slot.index == SIDECAR:
                self._on_sidecar_message(msg)
            else:
                self._on_message(slot, msg)

    def _on_message(self, slot: _Slot, msg: dict[str, object]) -> None:
        kind, version = msg.get("type"), msg.get("version")
        if kind == "ready" and isinstance(version, int):
            slot.ready, slot.version = True, version
            if self._announced:
                log.info(
                    "worker %d (pid %d) serving again, version %d", slot.index, slot.pid, version
                )
            elif all(s.ready for s in self._slots):
                self._announce()
        elif kind == "reloaded" and isinstance(version, int):
            slot.version = version
            if all(s.version == self.version for s in self._slots if s.pid):
                log.info("reload complete: version %d on all workers", self.version)
        elif kind == "metrics":  # validated by the consumer (observability.snapshot)
            if self.metrics_sink is not None:
                self.metrics_sink(msg)
        elif isinstance(kind, str) and kind in ANSWERS:
            result = {k: msg[k] for k in ANSWERS[kind].result_keys if k in msg}
            self._fanout_done(self._fanouts.answer(msg.get("id"), slot.index, result))
        elif kind == "reload_failed":
            reason = clip(str(msg.get("reason", "")), 500)
            log.error("worker %d failed to load version %s: %s", slot.index, version, reason)
        else:
            log.error("worker %d sent an unknown message type %s", slot.index, clip(str(kind)))

    def _on_sidecar_message(self, msg: dict[str, object]) -> None:
        kind = msg.get("type")
        if kind == "ready":
            self._sidecar_address = clip(str(msg.get("address", "")), 200)
            assert self._sidecar is not None
            self._sidecar.ready = True
            log.info("control plane ready at %s", self._sidecar_address)
            if not self._announced and all(s.ready for s in self._slots):
                self._announce()
        elif kind == "apply":
            self._apply_from_sidecar(msg.get("id"), msg.get("toml"))
        elif isinstance(kind, str) and kind in FANOUT_OPS:
            self._fanout_from_sidecar(kind, FANOUT_OPS[kind], msg)
        else:
            log.error("the control plane sent an unknown message type %s", clip(str(kind)))

    def _apply_from_sidecar(self, mid: object, text: object) -> None:
        from shieldwall.config.load import parse_config

        if not isinstance(text, str):
            errors = [{"path": "", "reason": "apply without a config text"}]
            self._send_sidecar({"type": "apply_failed", "id": mid, "errors": errors})
            return
        base = os.path.dirname(os.path.abspath(self.config_path)) if self.config_path else None
        try:
            version = self.reload(parse_config(text, source="control plane", base_dir=base))
        except ConfigError as exc:
            errs = exc.errors if isinstance(exc, ConfigErrors) else [exc]
            errors = [{"path": e.path, "reason": e.reason} for e in errs]
            log.error("control plane change refused; still serving version %d: %s",
                      self.version, exc)  # fmt: skip
            self._send_sidecar({"type": "apply_failed", "id": mid, "errors": errors})
            return
        self._send_sidecar({"type": "applied", "id": mid, "version": version})

    def _fanout_from_sidecar(self, kind: str, op: FanoutOp, msg: dict[str, object]) -> None:
        mid = msg.get("id")
        try:
            fields = op.parse(msg)
        except ValueError as exc:
            self._send_sidecar({"type": op.failed, "id": mid, "reason": str(exc)})
            return
        running = [s for s in self._slots if s.pid and s.control is not None]
        stopped = [s.index for s in self._slots if s not in running]
        now = time.monotonic()
        fid = self._fanouts.start((op.answer, mid), [s.index for s in running], stopped, now)
        if fid is None:
            self._send_sidecar({"type": op.failed, "id": mid, "reason": "too many in flight"})
            return
        frame = encode_json({**fields, "type": kind, "id": fid})
        for slot in running:
            assert slot.control is not None
            try:
                slot.control.sendall(frame)
            except OSError as exc:  # it never gets the order: its answer is the deadline's
                log.error("cannot send %s %d to worker %d: %s", kind, fid, slot.index, exc)
        self._fanout_done(self._fanouts.finished(fid))  # done now if no worker runs

    def _fanout_done(self, done: tuple[object, list[dict[str, object]]] | None) -> None:
        if done is not None:
            answer, mid = cast(tuple[str, object], done[0])
            self._send_sidecar({"type": answer, "id": mid, "workers": done[1]})

    def _send_sidecar(self, msg: dict[str, object]) -> None:
        if self._sidecar is None or self._sidecar.control is None:
            return
        try:
            self._sidecar.control.sendall(encode_json(msg))
        except OSError as exc:
            log.error("cannot send to the control plane: %s", exc)

    def _announce(self) -> None:
        if self._sidecar is not None and not self._sidecar.ready:
            return  # announced when the control plane reports ready too
        self._announced = True
        listeners = ",".join(g.display for g in self._groups)
        line = f"ready version={self.version} workers={len(self._slots)} listeners={listeners}"
        if self._sidecar_address:
            line += f" control={self._sidecar_address}"
        log.info("%s", line)
        if self._ready_fd is not None:
            try:
                os.write(self._ready_fd, line.encode() + b"\n")
            except OSError as exc:
                log.warning("cannot write the ready line to fd %d: %s", self._ready_fd, exc)

    # -- reload ------------------------------------------------------------------------------

    def reload(self, config: Config) -> int:
        """Validate ``config`` and send it to every worker; returns the new version.

        Raises ``ConfigError`` (the running config stays) if it cannot be built or changes
        what only a restart can change.
        """
        if config.listeners != self.config.listeners:
            raise ConfigError(
                "listeners", "listeners changed: restart shieldwall to apply (reload refused)"
            )
        if config.workers != self.config.workers:
            raise ConfigError(
                "workers", "worker count changed: restart shieldwall to apply (reload refused)"
            )
        build_runtime(config, self.version + 1)
        if config.log_level != self.config.log_level:
            setup_logging(config.log_level)
        self.version += 1
        self.config = config
        frame = encode_pickle(("reload", self.version, config))
        for slot in self._slots:
            if slot.control is None:
                continue  # not running: it will be forked with the new config
            try:
                slot.control.sendall(frame)
            except OSError as exc:
                log.error("cannot send version %d to worker %d: %s", self.version, slot.index, exc)
        log.info("reloading: version %d sent to the workers", self.version)
        return self.version

    def reload_from_file(self) -> bool:
        if not self.config_path:
            log.error(
                "reload: started without a config file; still serving version %d", self.version
            )
            return False
        from shieldwall.config.load import load_config

        try:
            self.reload(load_config(self.config_path))
        except ConfigError as exc:
            log.error(
                "reload of %s failed; still serving version %d: %s",
                self.config_path, self.version, exc,
            )  # fmt: skip
            return False
        except OSError as exc:
            log.error("reload: cannot read %s; still serving version %d: %s",
                      self.config_path, self.version, exc)  # fmt: skip
            return False
        return True

    # -- shutdown ----------------------------------------------------------------------------

    def _begin_stop(self, why: str) -> None:
        if self._stopping:
            if time.monotonic() - self._stop_started >= ESCALATE_AFTER:
                log.warning("%s again: killing the workers now", why)
                self._kill_all(signal.SIGKILL)
            return
        grace = self.config.limits.shutdown_grace
        log.info("%s: stopping (workers drain for up to %.1fs)", why, grace)
        self._stopping = True
        self._stop_started = time.monotonic()
        self._stop_deadline = time.monotonic() + grace + STOP_MARGIN
        for slot in self._all_slots():
            slot.restart_at = None
        self._kill_all(signal.SIGTERM)
        for group in self._groups:  # workers hold their own copies until they drain
            group.close()

    def _kill_all(self, sig: signal.Signals) -> None:
        for slot in self._all_slots():
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):  # gone: _reap collects it
                    os.kill(slot.pid, sig)

    def _cleanup(self) -> None:
        self._kill_all(signal.SIGKILL)  # only non-empty if run() is leaving on an exception
        for slot in self._all_slots():
            if slot.pid:
                os.waitpid(slot.pid, 0)
            if slot.control is not None:
                slot.control.close()
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        for group in self._groups:
            group.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()


def serve(
    config: Config,
    config_path: str | None,
    *,
    ready_fd: int | None = None,
    sidecar: SidecarEntry | None = None,
) -> int:
    """Run the edge until SIGTERM/SIGINT (blocking). Returns the process exit code."""
    setup_logging(config.log_level)
    set_process_tag("supervisor")
    return Supervisor(config, config_path, ready_fd=ready_fd, sidecar=sidecar).run()
