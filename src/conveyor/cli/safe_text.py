"""Escape control characters in text that comes from jobs before it reaches a terminal.

Job ids, names, payloads, reasons and log lines are anyone's input: an ANSI escape in a
job name could recolour, clear or rewrite the operator's terminal, and a newline could
forge a log line. Each such character is shown as its ``\\xNN`` escape instead.
"""

from __future__ import annotations

_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_ONE_LINE = {code: f"\\x{code:02x}" for code in _CONTROLS}
_MANY_LINES = {code: text for code, text in _ONE_LINE.items() if code not in (0x09, 0x0A)}
_IN_JSON = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0))}
"""JSON encoders escape C0 controls themselves; DEL and C1 are left raw, and are legal
JSON only as ``\\u`` escapes."""


def one_line(text: str) -> str:
    """``text`` with every control character escaped, newlines and tabs included."""
    return text.translate(_ONE_LINE)


def lines(text: str) -> str:
    """``text`` with control characters escaped but its newlines and tabs kept (for stack
    traces and other text that spans lines by nature)."""
    return text.translate(_MANY_LINES)


def json_text(encoded: str) -> str:
    """A JSON document with the control characters its encoder left raw escaped."""
    return encoded.translate(_IN_JSON)
