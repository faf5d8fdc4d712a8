"""Pure parts of the process model: restart backoff and the supervisor/worker framing."""

from __future__ import annotations

import pickle

import pytest

from shieldwall.config.model import Config
from shieldwall.edge.ipc import MAX_FRAME_BYTES, FrameDecoder, encode_json, encode_pickle
from shieldwall.edge.supervisor import RestartPolicy


def test_backoff_doubles_for_a_crash_loop_and_resets_after_a_stable_run() -> None:
    p = RestartPolicy(base=0.1, max_backoff=30.0, stable_after=10.0)
    failures, delays = 0, []
    for _ in range(12):  # each worker dies 0.5 s after start
        failures = p.next_failures(failures, lifetime=0.5)
        delays.append(p.delay(failures))
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and delays[-1] == 30.0
    assert p.next_failures(failures, lifetime=60.0) == 1  # a long life forgives the past


def test_frames_split_at_every_offset_decode_the_same() -> None:
    wire = encode_json({"type": "ready", "version": 3}) + encode_pickle(("reload", 4, Config()))
    for cut in range(len(wire) + 1):
        d = FrameDecoder(allow_pickle=True)
        msgs = d.feed(wire[:cut]) + d.feed(wire[cut:])
        assert msgs == [{"type": "ready", "version": 3}, ("reload", 4, Config())]


def test_supervisor_side_refuses_pickles_and_oversized_frames() -> None:
    with pytest.raises(ValueError, match="unexpected frame kind"):
        FrameDecoder(allow_pickle=False).feed(encode_pickle({"evil": True}))
    huge = (MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"J"
    with pytest.raises(ValueError, match="exceeds"):
        FrameDecoder(allow_pickle=False).feed(huge)
    with pytest.raises(ValueError, match="not an object"):
        payload = b"[1]"
        FrameDecoder(allow_pickle=False).feed(len(payload).to_bytes(4, "big") + b"J" + payload)
    assert pickle.loads(encode_pickle(Config())[5:]) == Config()
