"""The export's description (``tfrec_export.json``) as a checked, typed object, and the
checksums that protect its SavedModel.

A SavedModel is a program: loading one runs its graph. ``tfrec export`` records the SHA-256 of
``saved_model.pb`` and of every variables file; :func:`verify_checksums` refuses an export whose
files changed since, before TensorFlow reads them. (Load only exports you trust, as TensorFlow's
own security guidance says; the checksums catch tampering and damage, not a malicious exporter.)
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from tfrec.errors import TfrecError
from tfrec.textio import parse_json, read_text

EXPORT_FILE = "tfrec_export.json"
SAVEDMODEL_DIR = "savedmodel"
INDEXES = ("brute-force", "scann")
DTYPES = ("int64", "float32", "string")


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What ``tfrec_export.json`` says about an export.

    Attributes:
        index: ``brute-force`` or ``scann``.
        k: Items the ``recommend`` signatures return.
        max_exclude: Width of ``recommend_excluding``'s exclusion input.
        catalog_size: Items in the index.
        user_id: The user id column.
        item_id: The item id column.
        query: Query-side input name -> dtype.
        candidate: Candidate-side input name -> dtype.
        has_rating: Whether ``predict_rating`` exists.
        has_users: Whether the export holds a user table (known users' features).
        max_history: Width of ``recommend_from_history``'s history input (0: the model was
            trained without ``history = true`` and has no such signature).
        sha256: Relative path under ``savedmodel/`` -> SHA-256 of every SavedModel file.
        raw: The whole JSON document.
        rating_query, rating_candidate: What ``predict_rating`` reads beyond ``query`` (user
            side) and ``candidate`` (item side): the rating towers' features (empty without).
    """

    index: str
    k: int
    max_exclude: int
    catalog_size: int
    user_id: str
    item_id: str
    query: dict[str, str]
    candidate: dict[str, str]
    has_rating: bool
    has_users: bool
    max_history: int
    sha256: dict[str, str]
    raw: dict[str, Any]
    rating_query: dict[str, str] = dataclasses.field(default_factory=dict)
    rating_candidate: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> ExportInfo:
        """Reads and checks ``folder/tfrec_export.json``.

        Raises:
            TfrecError: Missing, not UTF-8, not JSON, or a field of the wrong kind (named).
        """
        path = folder / EXPORT_FILE
        if not path.exists():
            raise TfrecError(f"{folder}: not a tfrec export ({EXPORT_FILE} missing); "
                             "create one with `tfrec export --model DIR --out EXPORT_DIR`")
        data = parse_json(read_text(path, TfrecError, "export description"), TfrecError, str(path))
        if not isinstance(data, dict):
            raise TfrecError(f"{path}: corrupt export description (not a JSON object); re-export")

        def field(name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
            value = data.get(name, default)
            if value is ... or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise TfrecError(f"{path}: corrupt export description (field {name!r} is "
                                 f"{'missing' if value is ... else repr(value)[:60]}); re-export")
            return value

        features = field("features", dict)
        sides = []
        for side in ("query", "candidate", "rating_query", "rating_candidate"):
            names = features.get(side, {} if side.startswith("rating_") else None)  # older exports: none
            if not isinstance(names, dict) or not all(
                    isinstance(n, str) and d in DTYPES for n, d in names.items()):
                raise TfrecError(f"{path}: corrupt export description (features.{side}); re-export")
            sides.append(names)
        info = cls(index=field("index", str), k=field("k", int), max_exclude=field("max_exclude", int),
                   catalog_size=field("catalog_size", int), user_id=field("user_id", str),
                   item_id=field("item_id", str), query=sides[0], candidate=sides[1],
                   has_rating=field("has_rating", bool), has_users=field("has_users", bool, False),
                   max_history=field("max_history", int, 0), sha256=field("sha256", dict, {}), raw=data,
                   rating_query=sides[2], rating_candidate=sides[3])
        if (info.index not in INDEXES or info.k < 1 or info.max_exclude < 0 or info.max_history < 0
                or info.item_id not in info.candidate):
            raise TfrecError(f"{path}: corrupt export description (index, k or ids); re-export")
        return info


def savedmodel_checksums(savedmodel: Path) -> dict[str, str]:
    """SHA-256 of ``saved_model.pb`` and every file under ``variables/``, by relative path."""
    files = [savedmodel / "saved_model.pb"] + sorted((savedmodel / "variables").rglob("*"))
    return {str(f.relative_to(savedmodel)): _sha256(f) for f in files if f.is_file()}


def verify_checksums(folder: Path, info: ExportInfo) -> None:
    """Refuses a SavedModel whose files differ from what ``tfrec export`` recorded.

    Raises:
        TfrecError: No recorded checksums, or a file missing, added or changed.
    """
    savedmodel = folder / SAVEDMODEL_DIR
    if not info.sha256:
        raise TfrecError(f"{folder}: the export records no checksums (made by an older tfrec); "
                         "re-export it with `tfrec export` before serving it")
    actual = savedmodel_checksums(savedmodel) if savedmodel.is_dir() else {}
    changed = sorted(name for name in set(info.sha256) | set(actual) if info.sha256.get(name) != actual.get(name))
    if changed:
        raise TfrecError(f"{folder}: SavedModel file(s) {changed[:3]} changed since export; tfrec "
                         "refuses to load it (a SavedModel runs code): re-export from a trusted run")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
