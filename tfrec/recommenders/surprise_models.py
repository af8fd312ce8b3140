"""Surprise algorithms behind the :class:`Recommender` interface, scored from fitted internals.

Surprise's ``predict`` costs microseconds per pair in Python (tens for KNN), too slow for
full-catalog ranking. Each adapter here recomputes Surprise's ``estimate`` with NumPy from
the fitted model (factors, biases, similarity matrix, deviations, clusters), reproducing its
rules exactly: the same neighbour selection (top-``k`` by similarity, ties in Surprise's
order, only positive similarities aggregated, ``min_k``), the same fallback for impossible
predictions (the training mean) and the same clipping to the rating scale. Tests check every
adapter against ``algo.predict(u, i).est`` to 1e-6; ``NormalPredictor`` draws random numbers
and is checked by distribution instead.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfrec.errors import ConfigError, TfrecError
from tfrec.recommenders.base import Recommender, SeenItems
from tfrec.recommenders.registry import Build
from tfrec.recommenders.screen import FactorScreen, Screened
from tfrec.recommenders.surprise_data import IMPLICIT_TRANSFORMS, to_surprise_trainset
from tfrec.recommenders.surprise_knn import KnnEstimator, baseline, csr, rated_matrix

logger = logging.getLogger(__name__)

ALGORITHMS = ("SVD", "SVDpp", "NMF", "BaselineOnly", "KNNBasic", "KNNWithMeans", "KNNBaseline",
              "SlopeOne", "CoClustering", "NormalPredictor")
_SEEDED = ("SVD", "SVDpp", "NMF", "CoClustering")
_KNN = ("KNNBasic", "KNNWithMeans", "KNNBaseline")
# Fitted attributes that scoring reads (whichever the algorithm has), saved by `save`.
_STATE_ARRAYS = ("pu", "qi", "bu", "bi", "yj", "sim", "means", "bx", "by", "user_mean", "dev", "freq",
                 "cltr_u", "cltr_i", "avg_cocltr", "avg_cltr_u", "item_mean", "avg_cltr_i")
_STATE_SCALARS = ("biased", "k", "min_k", "sigma", "n_x", "n_y")


def _plain_scalar(value):
    """NumPy scalars -> Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else value


class SurpriseRecommender(Recommender):
    """A Surprise algorithm with exact vectorized scoring.

    Args:
        algorithm: Class name in :data:`ALGORITHMS`.
        name: Report name (default: the algorithm's).
        seed: ``random_state`` for the seeded algorithms and the NormalPredictor draws.
        **params: Constructor arguments of the Surprise class (``n_factors``, ``k``,
            ``sim_options``, ...). KNN models are always built with ``verbose=False``.
    """

    def __init__(self, algorithm: str, *, name: str | None = None, seed: int = 42,
                 implicit_as: str | None = None, **params: Any) -> None:
        super().__init__()
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown Surprise algorithm {algorithm!r}; use one of {list(ALGORITHMS)}")
        if implicit_as not in (None, *IMPLICIT_TRANSFORMS):
            raise ConfigError(f"implicit_as must be one of {list(IMPLICIT_TRANSFORMS)}, got {implicit_as!r}")
        self.algorithm = algorithm
        self.implicit_as = implicit_as
        self.name = name or algorithm
        self.seed = int(seed)
        self.params = dict(params)
        if algorithm in _SEEDED:
            self.params.setdefault("random_state", self.seed)
        if algorithm in _KNN or algorithm == "BaselineOnly":
            self.params.setdefault("verbose", False)
        self.algo: Any = None
        self.trainset: Any = None

    def _fit(self, train: pd.DataFrame, validation: pd.DataFrame | None) -> None:
        import surprise

        if self.dataset.schema.rating is None and self.implicit_as is None:
            raise ConfigError(f"{self.name} is a rating model and {self.dataset.name} has implicit events "
                              "only: leave it out, or pass --implicit-as binary|log1p to turn events into "
                              "ratings (its rankings are then rarely meaningful)")
        self.algo = getattr(surprise, self.algorithm)(**self.params)
        trainset = to_surprise_trainset(self.dataset, train, self.implicit_as)
        self.algo.fit(trainset)
        self.trainset = trainset
        self._user_inner = pd.Index([trainset.to_raw_uid(u) for u in range(trainset.n_users)])
        self._item_inner = pd.Index([trainset.to_raw_iid(i) for i in range(trainset.n_items)])
        if self.algorithm in _KNN:
            self._neighbours = csr(self.algo.yr, self.algo.n_y)
        if self.algorithm in ("SlopeOne", "SVDpp"):
            self._rated = rated_matrix(trainset)
        self._derive()

    def _derive(self) -> None:
        """State computed from the fitted arrays (shared by fit and load)."""
        self._catalog_inner = self._item_inner.get_indexer(self.catalog)
        baseline_plus_product = self.algorithm == "SVDpp" or (self.algorithm == "SVD" and self.algo.biased)
        if baseline_plus_product:
            self._catalog_side = self._item_side(self._catalog_inner)
        self._never_impossible = baseline_plus_product and all(
            np.isfinite(getattr(self.algo, name)).all()
            for name in ("pu", "qi", "bu", "bi") + (("yj",) if self.algorithm == "SVDpp" else ()))
        self._lower, self._upper = self.trainset.rating_scale
        if self._never_impossible:
            self._screen = FactorScreen(*self._catalog_side, self._lower, self._upper)
        if self.algorithm in _KNN:
            self._knn = KnnEstimator(self.algorithm, self.algo, self._neighbours, self.trainset.global_mean)
        if self.algorithm == "SVDpp":
            counts = np.asarray(self._rated.sum(axis=1)).ravel()
            self._implicit = (self._rated @ self.algo.yj) / np.sqrt(np.maximum(counts, 1))[:, None]
        if self.algorithm == "SlopeOne":
            known = self.algo.freq > 0
            self._slope_known = known.astype(np.float64)
            self._slope_dev = np.where(known, self.algo.dev, 0.0)
        self._rng = np.random.default_rng(self.seed)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """Saves the fitted model as NumPy arrays (``arrays.npz``) and JSON (``model.json``):
        formats that cannot run code when loaded (no pickle)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {name: np.asarray(getattr(self.algo, name), dtype=np.float64 if name not in
                                   ("cltr_u", "cltr_i") else np.int64)
                  for name in _STATE_ARRAYS if getattr(self.algo, name, None) is not None}
        if self.algorithm in _KNN:
            names = ("neighbour_indptr", "neighbour_ids", "neighbour_ratings")
            arrays.update(zip(names, self._neighbours, strict=True))
        if hasattr(self, "_rated"):
            arrays.update(rated_indptr=self._rated.indptr, rated_indices=self._rated.indices)
        arrays.update(seen_indptr=self.seen.indptr, seen_items=self.seen.codes)
        meta = {
            "format": "tfrec-surprise-1", "algorithm": self.algorithm, "name": self.name,
            "seed": self.seed, "params": self.params,
            "scalars": {n: _plain_scalar(getattr(self.algo, n)) for n in _STATE_SCALARS
                        if hasattr(self.algo, n)},
            "sim_options": getattr(self.algo, "sim_options", None),
            "global_mean": float(self.trainset.global_mean), "rating_scale": list(self.trainset.rating_scale),
            "user_inner": self._user_inner.tolist(), "item_inner": self._item_inner.tolist(),
            "catalog": self.catalog.tolist(), "train_users": self.seen.users.tolist(),
            "train_items": self.seen.items.tolist(), "predicts_ratings": self.predicts_ratings,
        }
        np.savez(directory / "arrays.npz", **arrays)
        (directory / "model.json").write_text(json.dumps(meta, default=_plain_scalar))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> SurpriseRecommender:
        """Loads a model saved by :meth:`save` (``np.load(allow_pickle=False)`` + JSON).

        Raises:
            TfrecError: Missing or malformed files.
        """
        from types import SimpleNamespace

        from scipy.sparse import csr_matrix

        directory = Path(directory)
        try:
            meta = json.loads((directory / "model.json").read_text())
            with np.load(directory / "arrays.npz", allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError) as exc:
            raise TfrecError(f"{directory}: not a saved Surprise model ({exc})") from None
        if meta.get("format") != "tfrec-surprise-1":
            raise TfrecError(f"{directory}: unknown model format {meta.get('format')!r}")
        model = cls(meta["algorithm"], name=meta["name"], seed=meta["seed"], **meta["params"])
        model.algo = SimpleNamespace(**{n: arrays[n] for n in _STATE_ARRAYS if n in arrays},
                                     **meta["scalars"], sim_options=meta["sim_options"] or {})
        model.trainset = SimpleNamespace(global_mean=meta["global_mean"],
                                         rating_scale=tuple(meta["rating_scale"]))
        model._user_inner, model._item_inner = pd.Index(meta["user_inner"]), pd.Index(meta["item_inner"])
        model._restore(None, SeenItems(np.asarray(meta["catalog"]), pd.Index(meta["train_users"]),
                                       pd.Index(meta["train_items"]), arrays["seen_indptr"],
                                       arrays["seen_items"]))
        model.predicts_ratings = meta["predicts_ratings"]
        if meta["algorithm"] in _KNN:
            model._neighbours = (arrays["neighbour_indptr"], arrays["neighbour_ids"], arrays["neighbour_ratings"])
        if "rated_indptr" in arrays:
            shape = (len(meta["user_inner"]), len(meta["item_inner"]))
            indices = arrays["rated_indices"]
            model._rated = csr_matrix((np.ones(len(indices)), indices, arrays["rated_indptr"]), shape=shape)
        model._derive()
        return model

    # ------------------------------------------------------------------ scoring
    def score(self, user_ids, item_ids) -> np.ndarray:
        self._check_fitted()
        u = self._user_inner.get_indexer(np.asarray(user_ids))
        i = self._item_inner.get_indexer(np.asarray(item_ids))
        return self._finish(self._estimate_pairs(u, i))

    def score_matrix(self, user_ids) -> np.ndarray:
        self._check_fitted()
        u = self._user_inner.get_indexer(np.asarray(user_ids))
        return self._finish(self._estimate_matrix(u, self._catalog_inner))

    def screen_matrix(self, user_ids: np.ndarray) -> Screened | None:
        """Biased factor models (SVD, SVD++) with finite parameters rank from float32 scores and
        their error bound (:class:`~tfrec.recommenders.screen.FactorScreen`): the same lists as
        :meth:`score_matrix`'s float64, about twice as fast."""
        if not self._never_impossible:
            return None
        self._check_fitted()
        return self._screen.screen(*self._user_side(self._user_inner.get_indexer(np.asarray(user_ids))))

    def _user_side(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``([n] mu + b_u, [n, factors] user factors)`` of a biased factor model's inner ids
        (SVD++: with the implicit part); ``mu`` and zero factors for unknown ones."""
        algo, known = self.algo, u >= 0
        uu = np.maximum(u, 0)
        user_factor = algo.pu[uu] + (self._implicit[uu] if self.algorithm == "SVDpp" else 0.0)
        user_factor[~known] = 0.0
        return self.trainset.global_mean + np.where(known, algo.bu[uu], 0.0), user_factor

    def _finish(self, estimates: np.ndarray) -> np.ndarray:
        """Impossible (NaN) -> training mean, then clip to the rating scale, as ``predict``
        (in place: ``estimates`` is a fresh array of the estimators). A biased factor model
        with finite parameters has no impossible estimate: no NaN pass."""
        if not self._never_impossible:
            impossible = np.isnan(estimates)
            if impossible.any():
                estimates[impossible] = self.trainset.global_mean
        return np.clip(estimates, self._lower, self._upper, out=estimates)

    def _estimate_pairs(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        algo, mu = self.algo, self.trainset.global_mean
        known_u, known_i = u >= 0, i >= 0
        both = known_u & known_i
        uu, ii = np.where(known_u, u, 0), np.where(known_i, i, 0)
        name = self.algorithm
        if name in ("SVD", "NMF", "SVDpp"):
            user_factor = algo.pu[uu] + (self._implicit[uu] if name == "SVDpp" else 0.0)
            dot = np.einsum("nf,nf->n", algo.qi[ii], user_factor)
            if name == "SVDpp" or algo.biased:
                return self._baseline(uu, ii, known_u, known_i, algo.bu, algo.bi) + np.where(both, dot, 0.0)
            return np.where(both, dot, np.nan)
        if name == "BaselineOnly":
            return self._baseline(uu, ii, known_u, known_i, algo.bu, algo.bi)
        if name == "NormalPredictor":
            return self._rng.normal(mu, algo.sigma, len(u))
        if name == "CoClustering":
            return np.where(both, self._coclustering(uu, ii), mu)
        if name == "SlopeOne":
            est = np.full(len(u), np.nan)
            if both.any():
                rated = self._rated[uu[both]]
                num = np.asarray(rated.multiply(self._slope_dev[ii[both]]).sum(axis=1)).ravel()
                cnt = np.asarray(rated.multiply(self._slope_known[ii[both]]).sum(axis=1)).ravel()
                mean_dev = np.divide(num, cnt, out=np.zeros_like(num), where=cnt > 0)
                est[both] = np.asarray(algo.user_mean)[uu[both]] + mean_dev
            return est
        return self._knn.pairs(u, i)

    def _estimate_matrix(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """``[len(u), len(i)]`` estimates; ``-1`` marks unknown ids."""
        algo, mu = self.algo, self.trainset.global_mean
        known_u, known_i = u >= 0, i >= 0
        uu, ii = np.where(known_u, u, 0), np.where(known_i, i, 0)
        both = known_u[:, None] & known_i[None, :]
        name = self.algorithm
        if name in ("SVD", "NMF", "SVDpp"):
            if name == "SVDpp" or algo.biased:
                # mu + bu + bi + p.q, as the pairs' estimate: the baseline's outer sum in one pass,
                # then the factor product added in place. Unknown ids' factor rows are zero, so
                # their product adds (+/-)0.0 -- the same numbers as masking it, without the masks.
                if i is self._catalog_inner:  # the catalog's side, built once (every block reads it)
                    item_bias, item_factor = self._catalog_side
                else:
                    item_bias, item_factor = self._item_side(i)
                user_bias, user_factor = self._user_side(u)
                out = np.add.outer(user_bias, item_bias)
                out += user_factor @ item_factor.T
                return out
            return np.where(both, algo.pu[uu] @ algo.qi[ii].T, np.nan)
        if name == "BaselineOnly":
            return self._baseline(uu[:, None], ii[None, :], known_u[:, None], known_i[None, :],
                                  algo.bu, algo.bi)
        if name == "NormalPredictor":
            return self._rng.normal(mu, algo.sigma, (len(u), len(i)))
        if name == "CoClustering":
            return np.where(both, self._coclustering(uu[:, None], ii[None, :]), mu)
        if name == "SlopeOne":
            rated = self._rated[uu]
            num = np.asarray(rated @ self._slope_dev[ii].T)
            cnt = np.asarray(rated @ self._slope_known[ii].T)
            est = np.asarray(algo.user_mean)[uu][:, None] + np.divide(num, cnt, out=np.zeros_like(num), where=cnt > 0)
            return np.where(both, est, np.nan)
        return self._knn.matrix(u, i)

    def _item_side(self, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``([n] item biases, [n, factors] item factors)`` of inner ids, zero for unknown ones."""
        known, ii = i >= 0, np.maximum(i, 0)
        factors = self.algo.qi[ii]
        factors[~known] = 0.0
        return np.where(known, self.algo.bi[ii], 0.0), factors

    def _baseline(self, uu, ii, known_u, known_i, bu, bi) -> np.ndarray:
        return baseline(self.trainset.global_mean, uu, ii, known_u, known_i, bu, bi)

    def _coclustering(self, uu, ii) -> np.ndarray:
        algo = self.algo
        uc, ic = algo.cltr_u[uu], algo.cltr_i[ii]
        return (algo.avg_cocltr[uc, ic] + algo.user_mean[uu] - algo.avg_cltr_u[uc]
                + algo.item_mean[ii] - algo.avg_cltr_i[ic])


def build(build: Build, *, algorithm: str, **defaults: Any) -> SurpriseRecommender:
    """The registry's factory: ``algorithm`` with its registered ``defaults`` and the build's
    parameters over them."""
    return SurpriseRecommender(algorithm, name=build.name, seed=build.seed, implicit_as=build.implicit_as,
                               **{**defaults, **build.params})


def factor_space(trial: Any, **_: Any) -> dict[str, Any]:
    """Search space of SVD and SVD++ (constructor arguments)."""
    return {**nmf_space(trial), "lr_all": trial.suggest_float("lr_all", 1e-3, 0.05, log=True),
            "reg_all": trial.suggest_float("reg_all", 1e-3, 0.5, log=True)}


def nmf_space(trial: Any, **_: Any) -> dict[str, Any]:
    """Search space of NMF: the factor count and epochs."""
    return {"n_factors": trial.suggest_int("n_factors", 10, 200, log=True),
            "n_epochs": trial.suggest_int("n_epochs", 10, 60)}


def knn_space(trial: Any, **_: Any) -> dict[str, Any]:
    """Search space of the KNN models: the neighbourhood size."""
    return {"k": trial.suggest_int("k", 5, 200, log=True)}
