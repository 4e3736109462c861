"""Untrusted text (server and host names, Nova messages, action messages) made safe for one line.

Text from Nova, Watcher or a workflow's starter can hold a newline (a forged
log line), ``ESC`` (terminal escape sequences: cursor moves, hyperlinks,
window titles), C1 controls, or bidirectional overrides (text that reads
differently than it is). :func:`one_line` escapes all of them and bounds the
length; :class:`OneLineLogFilter` applies it to every log record a handler
emits; :func:`install_log_filter` puts it on the root logger's handlers.
"""

from __future__ import annotations

import logging
import unicodedata

#: Longest text :func:`one_line` returns by default (before the truncation note).
MAX_CHARS = 2000
#: Longest log message the filter lets through.
MAX_LOG_MESSAGE_CHARS = 8000

# Control (Cc: C0, DEL, C1), format (Cf: bidi overrides and isolates, zero
# width), line/paragraph separators (Zl, Zp), surrogates and unassigned.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def one_line(text: object, *, limit: int = MAX_CHARS) -> str:
    """``text`` as one line of printable characters, at most ``limit`` of them plus a note.

    Every control, format and separator character (``\\n``, ``\\r``, ``\\t``,
    ``\\x1b``, C1 controls such as ``\\x9b``, bidi overrides such as
    ``\\u202e``) becomes its escape (``\\x1b``, ``\\u202e``). Backslashes are
    kept, so applying it twice changes nothing more.

    Args:
        text: Any value; non-strings go through ``str()``.
        limit: Characters kept; the rest is replaced by ``…[+N chars]``.
    """
    text = text if isinstance(text, str) else str(text)
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    safe = "".join(_escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in text)
    return safe + (f"…[+{cut} chars]" if cut > 0 else "")


class OneLineLogFilter(logging.Filter):
    """Renders each record's message with :func:`one_line`: one record, one line.

    The message is formatted with its arguments first, so both a format
    string and its arguments are covered; tracebacks (``exc_info``) are left
    to the formatter, multi-line by nature but written by our code.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a bad format string: keep the record, escape its parts
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = one_line(message, limit=MAX_LOG_MESSAGE_CHARS)
        record.args = None
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Put a :class:`OneLineLogFilter` on every handler of ``logger`` (root by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, OneLineLogFilter) for f in handler.filters):
            handler.addFilter(OneLineLogFilter())
