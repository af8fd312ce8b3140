"""Data layer: loaders, validation, the :class:`Dataset` container and synthetic data."""

from __future__ import annotations

import os
from pathlib import Path

from tfrec.data.dataset import Dataset, build_dataset
from tfrec.data.validate import CleaningReport, DuplicatePolicy, InvalidPolicy
from tfrec.errors import DataError
from tfrec.schema import Schema, builtin_schema

DATA_CHOICES = ("synthetic", "ml-100k", "ml-1m", "ml-latest-small", "ml-latest", "gowalla")


def load_synthetic(n_users: int = 1000, n_items: int = 500, n_ratings: int = 10_000, *,
                   signal: float = 1.0, seed: int = 42,
                   duplicates: DuplicatePolicy = "last") -> Dataset:
    """Generates the synthetic data (see :mod:`tfrec.data.synthetic`) as a validated Dataset.

    With ``signal=0`` the seed's repeated (user, item) pairs are merged by ``duplicates``
    (counted in ``dataset.report`` and logged).
    """
    from tfrec.data.synthetic import generate

    users, items, ratings = generate(n_users, n_items, n_ratings, signal=signal, seed=seed)
    return build_dataset(f"synthetic(signal={signal:g}, seed={seed})", builtin_schema("synthetic"),
                         ratings, users=users, items=items, duplicates=duplicates)


def load_dataset(spec: str = "synthetic", *, data_dir: str | os.PathLike | None = None,
                 schema: Schema | None = None, users: str | os.PathLike | None = None,
                 items: str | os.PathLike | None = None, seed: int = 42, signal: float = 1.0,
                 duplicates: DuplicatePolicy = "last", invalid: InvalidPolicy = "error",
                 sep: str | None = None, **synthetic_sizes: int) -> Dataset:
    """Loads a data set by name or path.

    Args:
        spec: ``"synthetic"`` (the embedded default), a MovieLens variant (``"ml-100k"``,
            ``"ml-1m"``, ``"ml-latest-small"``, ``"ml-latest"``), a LightGCN-format data set
            (``"gowalla"``, read from ``data_dir``; or ``"lightgcn:FOLDER"``: train/valid/test
            files, :mod:`tfrec.data.lightgcn`), ``"files:TRAIN,TEST[,VALID]"`` (CSV/Parquet files
            of one schema as predefined folds, :mod:`tfrec.data.predefined`), ``"csv:PATH"``,
            ``"parquet:PATH"``, or a path to a ``.csv``/``.parquet`` file.
        data_dir: MovieLens folder (or its parent; defaults to ``TFREC_DATA_DIR``), or the
            folder of a named LightGCN-format data set.
        schema: Schema for generic files (defaults to user_id/item_id/rating columns).
        users: User feature table (CSV/Parquet) for generic files.
        items: Item feature table (CSV/Parquet) for generic files.
        seed: Seed for synthetic data.
        signal: Planted signal strength for synthetic data.
        duplicates: Duplicate (user, item) policy.
        invalid: Invalid-row policy.
        sep: Field separator of delimited files (default: tab for .tsv, else comma).
        **synthetic_sizes: ``n_users``, ``n_items``, ``n_ratings`` for synthetic data.

    Raises:
        DataError: Unknown spec, missing files or invalid data.
    """
    from tfrec.data import lightgcn, movielens, tabular

    if spec == "synthetic":
        return load_synthetic(signal=signal, seed=seed, duplicates=duplicates, **synthetic_sizes)
    if spec == "ml-100k":
        return movielens.load_ml100k(data_dir, duplicates=duplicates, invalid=invalid)
    if spec == "ml-1m":
        return movielens.load_ml1m(data_dir, duplicates=duplicates, invalid=invalid)
    if spec in ("ml-latest-small", "ml-latest"):
        return movielens.load_ml_latest(data_dir, small=spec.endswith("small"),
                                        duplicates=duplicates, invalid=invalid)
    if spec in lightgcn.NAMES:
        return lightgcn.load_lightgcn(data_dir, spec, duplicates=duplicates, invalid=invalid)
    kind, _, rest = spec.partition(":")
    if kind == "lightgcn":
        return lightgcn.load_lightgcn(rest or data_dir, duplicates=duplicates, invalid=invalid)
    if kind == "files":
        from tfrec.data.predefined import load_split_files

        return load_split_files([p for p in rest.split(",") if p], schema or tabular.DEFAULT_SCHEMA, users=users,
                                items=items, sep=sep or ",", duplicates=duplicates, invalid=invalid)
    path = Path(rest if kind in ("csv", "parquet") and rest else spec)
    if path.suffix.lower() in (".csv", ".tsv", ".txt", ".dat", ".parquet", ".pq") or kind in ("csv", "parquet"):
        tabular.check_no_pickle(path)
        return tabular.load_tables(path, schema or tabular.DEFAULT_SCHEMA, users=users, items=items,
                                   sep=sep or ("\t" if path.suffix.lower() == ".tsv" else ","),
                                   duplicates=duplicates, invalid=invalid)
    raise DataError(
        f"unknown data {spec!r}",
        fix=f"use one of {list(DATA_CHOICES)}, lightgcn:FOLDER, files:TRAIN,TEST[,VALID], csv:PATH, "
            "parquet:PATH, or a .csv/.parquet path.",
    )


__all__ = ["CleaningReport", "DATA_CHOICES", "Dataset", "DataError", "build_dataset",
           "load_dataset", "load_synthetic"]
