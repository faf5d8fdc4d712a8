"""Property: whatever TOML data arrives, decoding ends in a Config or in ConfigErrors, never in
another exception (a crash in config loading would take a reload or the control API down)."""

from __future__ import annotations

import dataclasses
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldwall.config import model
from shieldwall.config.load import parse_config
from shieldwall.config.model import Config
from shieldwall.config.schema import Decoder
from shieldwall.config.validate import validate
from shieldwall.errors import ConfigErrors

KEYS = sorted(
    {f.name for name in model.__all__ for f in dataclasses.fields(getattr(model, name))}
    | {"unknown", "x"}
)
SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(["10s", "64KiB", "*.example.com", "10.0.0.0/8", "::", "-", "", "a.pem"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8))
def test_decoding_arbitrary_data_only_reports_config_errors(data: dict[str, object]) -> None:
    d = Decoder("/nonexistent")
    config = d.decode(Config, data)
    validate(config, d)
    assert isinstance(config, Config)
    for e in d.errors:
        assert e.reason and isinstance(e.path, str)
    if not d.errors:  # a clean decode is a fully typed, hashable config
        hash(config)
        for lst in config.listeners:
            assert 1 <= lst.port <= 65535


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_reports(text: str) -> None:
    try:
        config = parse_config(text, base_dir="/nonexistent")
    except ConfigErrors as e:
        assert e.errors
    else:
        assert isinstance(config, Config)


def test_every_model_type_is_supported_by_placeholders() -> None:
    from shieldwall.config.schema import _placeholder

    for name in model.__all__:
        for hint in typing.get_type_hints(getattr(model, name)).values():
            _placeholder(hint)
