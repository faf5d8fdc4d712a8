"""Golden tests for config error messages: ``golden/NAME.toml`` next to ``golden/NAME.errors``.

Each ``.errors`` file holds the exact lines ``parse_config`` reports (``path: reason``), in
order; the config directory is written as ``{dir}``. To regenerate after an intended change:
``SHIELDWALL_UPDATE_GOLDEN=1 pytest tests/config/test_config_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shieldwall.config.load import parse_config
from shieldwall.errors import ConfigError, ConfigErrors

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.toml"))


def render(err: ConfigErrors, base_dir: Path) -> str:
    lines = [f"{e.path}: {e.reason}" if e.path else e.reason for e in err.errors]
    return "\n".join(lines).replace(str(base_dir), "{dir}") + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden_errors(name: str) -> None:
    source = GOLDEN / f"{name}.toml"
    expected_file = GOLDEN / f"{name}.errors"
    with pytest.raises(ConfigErrors) as info:
        parse_config(source.read_text(), source=f"{name}.toml", base_dir=str(GOLDEN))
    got = render(info.value, GOLDEN)
    if os.environ.get("SHIELDWALL_UPDATE_GOLDEN"):
        expected_file.write_text(got)
    assert got == expected_file.read_text()


def test_every_golden_has_expectations() -> None:
    assert CASES, "no golden cases found"
    for name in CASES:
        assert (GOLDEN / f"{name}.errors").is_file(), name


def test_config_errors_is_a_config_error_listing_all() -> None:
    text = (GOLDEN / "wrong_types.toml").read_text()
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    err = info.value
    assert isinstance(err, ConfigErrors)
    assert len(err.errors) > 5
    # the first error is also the exception's own path/reason, and str() lists every one
    assert (err.path, err.reason) == (err.errors[0].path, err.errors[0].reason)
    assert str(err).splitlines() == [str(e) for e in err.errors]
