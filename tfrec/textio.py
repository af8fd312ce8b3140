"""Reading small text documents (schemas, configs, export descriptions) without surprises.

Every failure is the caller's error type with the file named: not a regular file, too large,
not UTF-8, invalid JSON/TOML, or nested so deeply that the parser would recurse out of stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from tfrec.errors import TfrecError

MAX_BYTES = 50 * 1024 * 1024


def read_text(path: str | os.PathLike, error: type[TfrecError], what: str) -> str:
    """The UTF-8 text of a small file.

    Raises:
        error: Missing, not a regular file, over 50 MB, or not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        kind = "not found" if not path.exists() else "not a regular file"
        raise error(f"{path}: {what} {kind}")
    if path.stat().st_size > MAX_BYTES:
        raise error(f"{path}: {what} is over {MAX_BYTES // 2**20} MB; is it the right file?")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
                    f"{exc.start}); re-save it as UTF-8") from None


def parse_json(text: str, error: type[TfrecError], where: str) -> Any:
    """Parses JSON, turning syntax errors and absurd nesting into ``error``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply to be a tfrec document") from None


def parse_toml(text: str, error: type[TfrecError], where: str) -> dict[str, Any]:
    """Parses TOML, turning syntax errors and absurd nesting into ``error``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{where}: TOML nested too deeply to be a tfrec document") from None
