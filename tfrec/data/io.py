"""Reading delimited and Parquet files into pandas with errors that name file, line and fix."""

from __future__ import annotations

import collections
import csv
import io
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.errors import DataError

logger = logging.getLogger(__name__)

MAX_COLUMNS = 10_000




def _first_undecodable(raw: bytes, encoding: str) -> tuple[int, int] | None:
    """Returns ``(byte_offset, line)`` of the first byte ``encoding`` cannot decode, else None."""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start, raw.count(b"\n", 0, exc.start) + 1
    return None


def read_delimited(
    path: str | os.PathLike,
    *,
    sep: str,
    columns: Mapping[str, str],
    header: bool = False,
    encoding: str = "utf-8",
    fix_hint: str | None = None,
) -> pd.DataFrame:
    """Reads a delimited text file with typed columns.

    Every row must have exactly ``len(columns)`` fields (or, with ``header``, the header's).
    A UTF-8 byte-order mark is accepted and skipped. Missing numeric values are an error;
    missing strings become empty strings.

    Args:
        path: The file.
        sep: Field separator; more than one character (``"::"``) uses pandas' Python engine.
        columns: Column name -> ``"int"``, ``"float"`` or ``"string"``, in file order. With
            ``header=True`` the file's header must contain these names (in any order).
        header: Whether the first line is a header.
        encoding: Text encoding (``"latin-1"`` for MovieLens 100k/1M item files).
        fix_hint: Extra advice appended to file-level errors.

    Returns:
        A frame with a fresh ``RangeIndex``: row ``i`` is line ``i + 1 + header`` of the file.

    Raises:
        DataError: Missing or empty file, undecodable bytes, wrong field count, a value that
            does not parse as its column's type, or missing header columns.
    """
    path = Path(path)
    check_regular_file(path, fix_hint)
    raw = path.read_bytes()
    check_not_binary(raw, path, "a delimited text file")
    if not raw.strip():
        raise DataError("file is empty", path=path, fix=fix_hint or "supply a file with data rows.")
    py_encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    bad = _first_undecodable(raw, py_encoding)
    if bad is not None:
        offset, line = bad
        other = "latin-1" if py_encoding.startswith("utf") else "utf-8"
        raise DataError(
            f"byte {raw[offset]:#04x} at offset {offset} is not valid {encoding}",
            path=path,
            line=line,
            fix=f"re-save the file as {encoding}, or read it with encoding={other!r}.",
        )
    if py_encoding.lower().replace("_", "-") in ("latin-1", "latin1", "iso-8859-1") and not raw.isascii():
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode(py_encoding)
        else:  # Documented repair: valid UTF-8 with non-ASCII bytes is UTF-8, not Latin-1 text.
            logger.warning("%s: declared %s but the file is valid UTF-8; read it as UTF-8", path, encoding)
    else:
        text = raw.decode(py_encoding)
    first_line = text.split("\n", 1)[0]
    if header:
        if first_line.count(sep) + 1 > MAX_COLUMNS:
            raise DataError(f"the header has {first_line.count(sep) + 1:,} columns; tfrec reads at most "
                            f"{MAX_COLUMNS:,}", path=path, line=1,
                            fix="keep the interaction or feature columns only, or check the separator.")
        try:
            names = next(csv.reader([first_line], delimiter=sep)) if len(sep) == 1 else first_line.split(sep)
        except csv.Error as exc:
            raise DataError(f"unreadable header ({exc})", path=path, line=1,
                            fix="check the quoting and the separator of the first line.") from None
        names = [n.strip() for n in names]
        # Header names match the schema's case-insensitively (userid = userId): renamed to it.
        by_lower = {n.lower(): n for n in names}
        wanted = {c.lower(): c for c in columns}
        if len(by_lower) == len(names):
            names = [wanted.get(n.lower(), n) if n not in columns else n for n in names]
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(
                f"header lacks column(s) {missing}; it has {quote_names(names)}",
                path=path,
                line=1,
                fix="rename the columns or pass a schema whose names match the header.",
            )
        counts = collections.Counter(names)
        dup = sorted(n for n, c in counts.items() if c > 1)
        if dup:
            raise DataError(f"header repeats column(s) {dup}", path=path, line=1,
                            fix="give every column a distinct name.")
        names_in_file = names
    else:
        names_in_file = list(columns)
    _check_field_count(text, sep, len(names_in_file), header, path)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep if len(sep) == 1 else re.escape(sep),
            header=0 if header else None,
            names=names_in_file,
            engine="c" if len(sep) == 1 else "python",
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=csv.QUOTE_MINIMAL if header else csv.QUOTE_NONE,
            index_col=False,
        )
    except pd.errors.ParserError as exc:  # e.g. a quoted field that never closes
        raise DataError(
            f"malformed content ({str(exc).strip()})",
            path=path,
            fix="close every quoted field and check the separator and the file format.",
        ) from None
    frame = frame[list(columns)]
    return convert_columns(frame, columns, path=path, line_offset=1 + int(header))


def _guarded(rows: Iterator[list[str]], path: Path) -> Iterator[list[str]]:
    """csv rows, with the csv module's own errors (a field over its 128 KiB limit) as DataErrors."""
    try:
        yield from rows
    except csv.Error as exc:
        raise DataError(f"unreadable record ({exc})", path=path,
                        fix="fields are limited to 128 KiB; check for an unterminated quote.") from None


def check_regular_file(path: Path, fix_hint: str | None = None) -> None:
    """Raises a :class:`DataError` unless ``path`` is a regular file (never reads a FIFO or device).

    Raises:
        DataError: Missing, a folder, or a FIFO/device/socket.
    """
    if path.is_file():
        return
    if path.exists():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, device or socket)"
        raise DataError(f"{kind}, not a data file", path=path,
                        fix="give the path of a CSV or Parquet file.")
    raise DataError("file not found", path=path,
                    fix=fix_hint or "check the path, or point --data-dir / TFREC_DATA_DIR at the folder.")


_MAGIC = {b"\x1f\x8b": "gzip-compressed (decompress it: gunzip FILE)",
          b"PK\x03\x04": "a zip archive (unpack it first)",
          b"BZh": "bzip2-compressed (decompress it: bunzip2 FILE)",
          b"\xfd7zXZ": "xz-compressed (decompress it: unxz FILE)",
          b"PAR1": "a Parquet file (name it .parquet)"}


def check_not_binary(raw: bytes, path: Path, expected: str) -> None:
    """Raises a clear :class:`DataError` for compressed or Parquet bytes where text is expected."""
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise DataError(f"this is {what.split(' (')[0]}, not {expected}", path=path,
                            fix=what.split(" (", 1)[1].rstrip(")") + ".")


def quote_names(names: list[str], limit: int = 8) -> str:
    """A short, capped rendering of header names for messages (never a whole line of a file)."""
    shown = [n if len(n) <= 30 else n[:30] + "..." for n in names[:limit]]
    more = f" and {len(names) - limit:,} more" if len(names) > limit else ""
    return f"{shown}{more}"


def _check_field_count(text: str, sep: str, expected: int, header: bool, path: Path) -> None:
    """Raises on the first line whose field count differs (pandas pads short lines silently)."""
    lines = text.splitlines()
    start = 1 if header else 0
    if len(sep) == 1 and header:
        rows = csv.reader(lines[start:], delimiter=sep)
        counts = (len(r) for r in _guarded(rows, path))
    else:
        counts = (line.count(sep) + 1 for line in lines[start:])
    # csv.reader yields one row per record, which may span lines: stop at the shorter one.
    for number, (count, line) in enumerate(zip(counts, lines[start:], strict=False), start=start + 1):
        if count != expected and line.strip():
            raise DataError(
                f"expected {expected} fields separated by {sep!r}, found {count}",
                path=path,
                line=number,
                value=line[:80],
                fix="repair or remove that line, or check the separator and the file format.",
            )


def convert_columns(
    frame: pd.DataFrame,
    types: Mapping[str, str],
    *,
    path: str | os.PathLike | None,
    line_offset: int,
) -> pd.DataFrame:
    """Converts string columns to their declared types, naming the first bad value.

    Args:
        frame: Frame with a ``RangeIndex`` whose row ``i`` is line ``i + line_offset``.
        types: Column -> ``"int"``, ``"float"`` or ``"string"``.
        path: File name for error messages.
        line_offset: Line number of row 0.

    Raises:
        DataError: A value that does not parse, or a missing numeric value.
    """
    out = {}
    for column in frame.columns:
        kind = types.get(column, "string")
        values = frame[column]
        if kind == "string":
            out[column] = values.astype(str)
            continue
        if values.dtype.kind in "iuf":
            numeric = values
        else:
            stripped = values.astype(str).str.strip()
            numeric = pd.to_numeric(stripped, errors="coerce")
            bad = numeric.isna().to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                value = stripped.iloc[row]
                raise DataError(
                    "missing value" if value == "" else f"not a {kind} number",
                    path=path,
                    line=row + line_offset,
                    column=column,
                    value=value,
                    fix=f"column {column!r} must hold {kind} numbers on every row.",
                )
        if kind == "int":
            as_float = numeric.astype("float64")
            fractional = (as_float != np.floor(as_float)).to_numpy()
            if fractional.any():
                row = int(np.flatnonzero(fractional)[0])
                raise DataError(
                    "not an integer",
                    path=path,
                    line=row + line_offset,
                    column=column,
                    value=values.iloc[row],
                    fix=f"column {column!r} must hold integers.",
                )
            out[column] = numeric.astype("int64")
        else:
            out[column] = numeric.astype("float64")
    return pd.DataFrame(out, index=frame.index)
