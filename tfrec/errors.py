"""tfrec's own exception types: every error a user can cause is one of these."""

from __future__ import annotations

MAX_MESSAGE = 1000
MAX_VALUE = 120


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class TfrecError(Exception):
    """Base class of every error tfrec raises on purpose (bad input, bad configuration).

    Messages are one line and capped (a 1M-column header must not become a 10 MB message, nor
    echo a whole file).
    """

    def __init__(self, message: object = "") -> None:
        super().__init__(clip(" ".join(str(message).split("\n")), MAX_MESSAGE))


class SchemaError(TfrecError, ValueError):
    """A feature schema is malformed or does not match the data."""


class DataError(TfrecError, ValueError):
    """Input data is missing or malformed.

    The message names the file, line or column, the bad value and how to fix it.

    Args:
        message: What is wrong.
        path: The file (or directory) concerned, if any.
        line: 1-based line number in ``path``, if known.
        column: Column name, if known.
        value: The offending value, if known.
        fix: What the user should do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: object | None = None,
        line: int | None = None,
        column: str | None = None,
        value: object | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.value = value
        self.fix = fix
        parts = []
        if self.path is not None:
            parts.append(self.path + (f":{line}" if line is not None else ""))
        if column is not None:
            parts.append(f"column {column!r}")
        if value is not None:
            parts.append(f"value {clip(repr(value), MAX_VALUE)}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


class ConfigError(TfrecError, ValueError):
    """A configuration file or option is invalid."""
