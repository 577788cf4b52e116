"""The package's own exception type, and how a stranger's text is made inert wherever it
goes: an error message (:func:`excerpt`), Markdown (:func:`md_text`), a CSV cell
(:func:`csv_text`)."""

from __future__ import annotations

import re
import unicodedata

#: Characters shown of a value quoted in an error message.
EXCERPT_CHARS = 60
#: Control characters (C0, DEL, C1) and the Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class SssleError(Exception):
    """An error a user can act on: the message names the file, key or row at fault."""


def _escape(text: str) -> str:
    """Control characters as ``\\xNN``."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``value`` quoted for an error message: control characters escaped, at most ``limit``
    characters of it, and how many more there were. A file's content never reaches a
    message whole (a 10 MB field, a terminal escape sequence, a forged second line)."""
    text = str(value)
    shown = _escape(text[:limit])
    more = f"... ({len(text) - limit} more characters)" if len(text) > limit else ""
    return f"'{shown}'{more}"


#: Longest line, and most lines, of an error message as the CLI prints it.
MESSAGE_LINE_CHARS = 1000
MESSAGE_LINES = 40


def bounded(message: str) -> str:
    """An error message as the CLI prints it: control characters escaped (line breaks
    kept), each line cut at :data:`MESSAGE_LINE_CHARS` and at most :data:`MESSAGE_LINES`
    lines, whatever value a message quoted whole."""
    lines = [_escape(line) for line in str(message).split("\n")]
    cut = [
        line[:MESSAGE_LINE_CHARS] + f"... ({len(line) - MESSAGE_LINE_CHARS} more characters)"
        if len(line) > MESSAGE_LINE_CHARS
        else line
        for line in lines[:MESSAGE_LINES]
    ]
    if len(lines) > MESSAGE_LINES:
        cut.append(f"... ({len(lines) - MESSAGE_LINES} more lines)")
    return "\n".join(cut)


def user_message(exc: SssleError | OSError) -> str:
    """The one line a command prints for an error the user can act on: the package's own
    message, or an OS error's file and reason (permissions, a full disk, a file where a
    folder belongs), :func:`bounded`, after ``error:``."""
    if isinstance(exc, SssleError):
        return f"error: {bounded(str(exc))}"
    where = f"{exc.filename}: " if exc.filename else ""
    return f"error: {bounded(f'{where}{exc.strerror or exc}')}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]!|~<>&])")
#: A spreadsheet reads a cell that begins with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md_text(text: str) -> str:
    """A submitter's text as one inert Markdown table cell: every character that can end
    the cell or start markup inside it (``|``, ``<``, ``&``, ``*``, ``_``, ``[``,
    backticks, ...) escaped with a backslash, line breaks and other control characters as
    spaces."""
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in str(text))
    return _MD_SPECIAL.sub(r"\\\1", flat)


def csv_text(text: str) -> str:
    """A submitter's text as a CSV cell no spreadsheet evaluates: a cell beginning with
    ``= + - @``, a tab or a carriage return gets a leading ``'``."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text
