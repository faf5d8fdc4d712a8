"""Errors of the rules language, with the source position they point at.

Every error carries the character offset it is about. ``render`` shows the offending line with
a caret under that character::

    error: expected a value after 'eq' at 1:24
    http.request.method eq
                           ^

Lines and columns are 1-based and counted in characters of the source text; an error at the end
of the input points one past the last character. The format is stable: golden files and the
``shieldwall rules check`` command depend on it.
"""

from __future__ import annotations

from shieldwall.errors import ShieldwallError

__all__ = ["RuleError", "line_col"]


def line_col(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character ``offset`` in ``source``."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    start = source.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


class RuleError(ShieldwallError):
    """An expression failed to lex, parse, type-check or compile.

    ``offset`` is the character the error is about; ``message`` says what was expected.
    """

    def __init__(self, message: str, offset: int, source: str = "") -> None:
        self.message = message
        self.offset = offset
        self.source = source
        line, col = line_col(source, offset)
        self.line = line
        self.col = col
        super().__init__(f"{message} at {line}:{col}")

    def with_source(self, source: str) -> RuleError:
        """The same error bound to ``source`` (positions recomputed)."""
        return RuleError(self.message, self.offset, source)

    def render(self) -> str:
        """``error: <message> at L:C``, the source line, a caret under the column."""
        line_start = self.source.rfind("\n", 0, self.offset) + 1 if self.source else 0
        line_end = self.source.find("\n", line_start)
        if line_end < 0:
            line_end = len(self.source)
        text = self.source[line_start:line_end]
        # Keep tabs in the caret line so the caret lines up however tabs are displayed.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: self.col - 1])
        pad += " " * max(0, self.col - 1 - len(text))
        return f"error: {self.message} at {self.line}:{self.col}\n{text}\n{pad}^"
