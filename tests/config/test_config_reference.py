"""docs/config.md is generated from the model and must be up to date and complete."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from shieldwall.config import model
from shieldwall.config.reference import field_comments, render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_are_up_to_date() -> None:
    assert DOCS.read_text() == render_markdown(), (
        "docs/config.md is stale: run `shieldwall config docs > docs/config.md`"
    )


def test_every_model_field_has_a_meaning() -> None:
    undocumented = []
    for name in model.__all__:
        cls = getattr(model, name)
        _, comments = field_comments(cls)
        for f in dataclasses.fields(cls):
            if not comments.get(f.name):
                undocumented.append(f"{name}.{f.name}")
    assert undocumented == []


def test_every_model_field_appears_in_docs() -> None:
    text = render_markdown()
    for name in model.__all__:
        for f in dataclasses.fields(getattr(model, name)):
            assert f"| `{f.name}` |" in text, f"{name}.{f.name}"
