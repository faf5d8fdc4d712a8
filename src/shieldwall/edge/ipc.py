"""Supervisor <-> worker messages over a socketpair: a sans-IO framing codec.

A frame is ``length (4 bytes, big-endian) | kind (1 byte) | payload``. Two kinds:

- ``J``: a JSON object. Workers only ever send this kind (``ready``, ``reloaded``,
  ``reload_failed``, ``metrics``, ``purged``); the supervisor sends it for ``purge`` orders
  (``purge.py``). The supervisor decodes with ``allow_pickle=False``, so a worker that an
  attacker took over through a parser bug cannot make the supervisor unpickle anything.
- ``P``: a pickle, used only supervisor -> worker to carry a new frozen ``Config`` (a tree of
  dataclasses that JSON cannot round-trip). The worker trusts its parent.

Frames are bounded by ``MAX_FRAME_BYTES``; a bigger length is a protocol error (the peer is
broken), never an allocation.
"""

from __future__ import annotations

import json
import pickle
import struct
from typing import Any

__all__ = ["MAX_FRAME_BYTES", "FrameDecoder", "encode_json", "encode_pickle"]

MAX_FRAME_BYTES = 16 * 1024 * 1024  # a pickled Config is a few KB; this bounds a broken peer
_HEAD = struct.Struct("!IB")
_JSON, _PICKLE = ord("J"), ord("P")


def encode_json(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode()
    return _HEAD.pack(len(payload), _JSON) + payload


def encode_pickle(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(payload) > MAX_FRAME_BYTES:
        raise ValueError(f"message of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    return _HEAD.pack(len(payload), _PICKLE) + payload


class FrameDecoder:
    """Feed bytes as they arrive; get whole messages out. Raises ``ValueError`` on garbage."""

    def __init__(self, *, allow_pickle: bool) -> None:
        self._allow_pickle = allow_pickle
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        while len(self._buf) >= _HEAD.size:
            length, kind = _HEAD.unpack_from(self._buf)
            if length > MAX_FRAME_BYTES:
                raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
            end = _HEAD.size + length
            if len(self._buf) < end:
                break
            payload = bytes(self._buf[_HEAD.size : end])
            del self._buf[:end]
            if kind == _JSON:
                msg = json.loads(payload)
                if not isinstance(msg, dict):
                    raise ValueError("JSON frame is not an object")
                out.append(msg)
            elif kind == _PICKLE and self._allow_pickle:
                out.append(pickle.loads(payload))
            else:
                raise ValueError(f"unexpected frame kind {kind!r}")
        return out
