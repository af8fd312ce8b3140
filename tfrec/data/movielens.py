"""MovieLens loaders (100k, 1M, latest, latest-small) from a local directory.

The data are never shipped with tfrec (GroupLens' licence forbids redistribution). Point the
loader at the unpacked folder with an argument or the ``TFREC_DATA_DIR`` environment variable
(which may hold the folder itself or its parent, e.g. ``$TFREC_DATA_DIR/ml-100k``).
:func:`download` fetches a variant only when asked explicitly, and verifies checksums.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.data.dataset import Dataset, build_dataset
from tfrec.data.io import read_delimited
from tfrec.data.validate import DuplicatePolicy, InvalidPolicy
from tfrec.errors import DataError
from tfrec.schema import builtin_schema

logger = logging.getLogger(__name__)

VARIANTS = ("ml-100k", "ml-1m", "ml-latest-small", "ml-latest")
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
# SHA-256 of the files of the official ml-100k release, as listed in its SHA256SUMS.
RATING_COLUMNS = {"user_id": "int", "item_id": "int", "rating": "float", "timestamp": "int"}


def resolve_dir(name: str, data_dir: str | os.PathLike | None) -> Path:
    """Finds the folder of MovieLens variant ``name``.

    Args:
        name: Variant, e.g. ``"ml-100k"``.
        data_dir: The variant's folder or its parent; ``None`` reads ``TFREC_DATA_DIR``.

    Raises:
        DataError: No directory given, or it does not exist.
    """
    given = data_dir if data_dir is not None else os.environ.get("TFREC_DATA_DIR")
    if not given:
        raise DataError(
            f"no directory given for {name}",
            fix=f"pass --data-dir DIR (or set TFREC_DATA_DIR) pointing at the unpacked {name} folder "
            f"or its parent; to fetch it, run `tfrec data download {name} --dest DIR`.",
        )
    root = Path(given).expanduser()
    for candidate in (root / name, root):
        if candidate.is_dir() and (candidate / _marker_file(name)).exists():
            return candidate
    if not root.is_dir():
        raise DataError("directory not found", path=root,
                        fix=f"unpack {name} there, or pass the folder that holds it.")
    return root  # the per-file check names the missing file


def _marker_file(name: str) -> str:
    return {"ml-100k": "u.data", "ml-1m": "ratings.dat"}.get(name, "ratings.csv")


def _need(folder: Path, filename: str, name: str) -> Path:
    path = folder / filename
    if not path.is_file():
        raise DataError(
            f"{name} file {filename} is missing",
            path=path,
            fix=f"put the unpacked {name} files (from {GROUPLENS_URL.format(name=name)}) in {folder}.",
        )
    return path


def _release_year(values: pd.Series, source: str) -> pd.Series:
    """Extracts a 4-digit year; missing ones become 0 (a bucket of its own), counted and logged."""
    years = pd.to_numeric(values.astype(str).str.extract(r"(\d{4})", expand=False), errors="coerce")
    missing = int(years.isna().sum())
    if missing:
        logger.warning("%s: %d item(s) without a release year; year set to 0 (its own bucket)",
                       source, missing)
    return years.fillna(0).astype("float64")


def load_ml100k(data_dir=None, *, duplicates: DuplicatePolicy = "last",
                invalid: InvalidPolicy = "error") -> Dataset:
    """Loads MovieLens 100k: ratings, user and item features, official folds u1-u5 (and ua/ub).

    ``u.item`` is read as Latin-1. Genres become a ``|``-joined string; the title's text is kept
    as is. ``zip_prefix`` is the first three characters of the zip code.
    """
    folder = resolve_dir("ml-100k", data_dir)
    ratings = read_delimited(_need(folder, "u.data", "ml-100k"), sep="\t", columns=RATING_COLUMNS)
    users = read_delimited(
        _need(folder, "u.user", "ml-100k"), sep="|",
        columns={"user_id": "int", "age": "int", "gender": "string", "occupation": "string",
                 "zip_code": "string"},
    )
    users["zip_prefix"] = users["zip_code"].str[:3]
    item_columns = {"item_id": "int", "title": "string", "release_date": "string",
                    "video_release_date": "string", "url": "string"}
    item_columns.update({f"genre_{g}": "int" for g in ML100K_GENRES})
    items = read_delimited(_need(folder, "u.item", "ml-100k"), sep="|", columns=item_columns,
                           encoding="latin-1")
    items["genres"] = _join_flags(items, [f"genre_{g}" for g in ML100K_GENRES], ML100K_GENRES)
    items["release_year"] = _release_year(items["release_date"], str(folder / "u.item"))
    items = items[["item_id", "title", "genres", "release_year", "release_date"]]
    folds = {}
    for fold in ML100K_FOLDS:
        base, test = folder / f"{fold}.base", folder / f"{fold}.test"
        if base.is_file() and test.is_file():
            folds[fold] = (read_delimited(base, sep="\t", columns=RATING_COLUMNS),
                           read_delimited(test, sep="\t", columns=RATING_COLUMNS))
    return build_dataset("ml-100k", builtin_schema("ml-100k"), ratings, users=users, items=items,
                         folds=folds, source=str(folder / "u.data"), line_offset=1,
                         duplicates=duplicates, invalid=invalid, user_source=str(folder / "u.user"),
                         item_source=str(folder / "u.item"))


def _join_flags(frame: pd.DataFrame, columns: list[str], labels) -> pd.Series:
    """Turns 0/1 flag columns into one ``|``-joined string per row, vectorized."""
    flags = frame[columns].to_numpy() > 0
    label_array = np.asarray(labels, dtype=object)
    joined = ["|".join(label_array[row]) for row in flags]  # per-row over a small item table
    return pd.Series(joined, index=frame.index, dtype=str)


def load_ml1m(data_dir=None, *, duplicates: DuplicatePolicy = "last",
              invalid: InvalidPolicy = "error") -> Dataset:
    """Loads MovieLens 1M (``::``-separated, Latin-1 ``.dat`` files)."""
    folder = resolve_dir("ml-1m", data_dir)
    ratings = read_delimited(_need(folder, "ratings.dat", "ml-1m"), sep="::", columns=RATING_COLUMNS)
    users = read_delimited(
        _need(folder, "users.dat", "ml-1m"), sep="::",
        columns={"user_id": "int", "gender": "string", "age": "int", "occupation": "int",
                 "zip_code": "string"},
    )
    users["zip_prefix"] = users["zip_code"].str[:3]
    items = read_delimited(_need(folder, "movies.dat", "ml-1m"), sep="::",
                           columns={"item_id": "int", "title": "string", "genres": "string"},
                           encoding="latin-1")
    items["release_year"] = _release_year(items["title"].str.extract(r"\((\d{4})\)\s*$", expand=False),
                                          str(folder / "movies.dat"))
    return build_dataset("ml-1m", builtin_schema("ml-1m"), ratings, users=users, items=items,
                         source=str(folder / "ratings.dat"), line_offset=1,
                         duplicates=duplicates, invalid=invalid)


def load_ml_latest(data_dir=None, *, small: bool = True, duplicates: DuplicatePolicy = "last",
                   invalid: InvalidPolicy = "error") -> Dataset:
    """Loads MovieLens latest or latest-small (CSV with header, half-star ratings)."""
    name = "ml-latest-small" if small else "ml-latest"
    folder = resolve_dir(name, data_dir)
    ratings = read_delimited(_need(folder, "ratings.csv", name), sep=",", header=True,
                             columns={"userId": "int", "movieId": "int", "rating": "float",
                                      "timestamp": "int"})
    ratings.columns = list(RATING_COLUMNS)
    items = read_delimited(_need(folder, "movies.csv", name), sep=",", header=True,
                           columns={"movieId": "int", "title": "string", "genres": "string"})
    items = items.rename(columns={"movieId": "item_id"})
    items["genres"] = items["genres"].replace("(no genres listed)", "")
    items["release_year"] = _release_year(
        items["title"].str.extract(r"\((\d{4})\)\s*$", expand=False), str(folder / "movies.csv"))
    return build_dataset(name, builtin_schema(name), ratings, items=items,
                         source=str(folder / "ratings.csv"), line_offset=2,
                         duplicates=duplicates, invalid=invalid)
