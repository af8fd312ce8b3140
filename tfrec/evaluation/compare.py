"""The main job as a function: ``tfrec.compare(...)`` -- what ``tfrec compare`` runs.

Loads (or takes) a data set, builds the shared split(s), fits every model through the harness
and returns a :class:`Comparison`: the tidy results, the intervals and tests, a table per k and
a figure. The CLI calls the same function, so notebooks and the command line cannot drift.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tfrec.data import Dataset, load_dataset
from tfrec.errors import TfrecError
from tfrec.evaluation.harness import EvaluationResult, evaluate
from tfrec.evaluation.provenance import provenance
from tfrec.evaluation.report import TERMINAL_METRICS, comparison_table
from tfrec.evaluation.splits import Split, make_splits
from tfrec.evaluation.tuning import Search, search
from tfrec.progress import Progress
from tfrec.recommenders import default_models, is_rating_model, make_model, search_space

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Comparison:
    """The outcome of :func:`compare`.

    Attributes:
        dataset: The data set compared on.
        splits: The shared splits.
        ks: Cut-offs of the ranking metrics.
        models: Model names, in table order.
        result: Tidy results and per-user values.
        payload: The JSON-ready record ``tfrec compare --out`` writes as ``results.json``.
    """

    dataset: Dataset
    splits: list[Split]
    ks: list[int]
    models: list[str]
    result: EvaluationResult
    payload: dict[str, Any]

    def table(self, k: int | None = None, metrics: Sequence[str] | None = TERMINAL_METRICS) -> pd.DataFrame:
        """Models as rows, metrics at ``k`` (default: the first k) as columns; ``metrics=None``
        for every metric with the 95% interval column."""
        intervals = pd.DataFrame(self.payload["intervals"])
        return comparison_table(self.result.summary(), k or self.ks[0], intervals,
                                metrics=tuple(metrics) if metrics else None, compact=metrics is not None)

    def figure(self) -> Any:
        """A matplotlib figure: RMSE, nDCG, recall and coverage at the first k per model, and
        the per-user nDCG distribution; titled with the data set, split and folds."""
        from tfrec.evaluation.plots import plot_comparison

        k = self.ks[0]
        per_user = {m: np.concatenate(v) for (m, metric, cut), v in self.result.per_user.items()
                    if (metric, cut) == ("ndcg", k)}
        folds = ", ".join(s.name for s in self.splits)
        return plot_comparison(self.result.summary(), [("rmse", 0), ("ndcg", k), ("recall", k), ("coverage", k)],
                               title=f"{self.dataset.name}: split {self.payload['split']} ({folds})",
                               per_user=per_user, per_user_label=f"nDCG@{k}")


#: Fraction of a held-out user's rows given as history in ``cold_users`` splits (Mult-VAE's 80%).
DEFAULT_COLD_HISTORY = 0.8


def rating_models_on_events(dataset: Dataset, names: Sequence[str], implicit_as: str | None) -> list[str]:
    """Surprise rating models asked for on implicit events (they need ``implicit_as``).

    Raises:
        TfrecError: Such models without ``implicit_as``.
    """
    rating = [n for n in names if is_rating_model(n)]
    if dataset.schema.rating is not None or not rating:
        return []
    if implicit_as is None:
        raise TfrecError(f"{', '.join(rating)}: rating model(s), and {dataset.name} has implicit events "
                         "only; leave them out of --models, or pass --implicit-as binary|log1p")
    logger.warning("%s predict ratings; on implicit events read as %s their rankings are rarely meaningful",
                   ", ".join(rating), implicit_as)
    return rating


def compare(data: Dataset | str = "synthetic", *, models: Sequence[str] | None = None, split: str = "random",
            ks: Sequence[int] = (10,), seed: int = 42, folds: Sequence[str] | None = None,
            test_ratio: float = 0.2, relevance_threshold: float | None = None, config: Any = None,
            params: dict[str, dict[str, Any]] | None = None, implicit_as: str | None = None,
            data_dir: str | None = None, progress: Progress | None = None,
            cold_history: float | None = None, tensorboard_dir: str | None = None,
            sample_users: int | None = None, shard: tuple[int, int] | None = None,
            tune: int | None = None, validation_ratio: float = 0.1) -> Comparison:
    """Fits every model on the same split(s) and measures them the same way.

    Args:
        data: A :class:`~tfrec.data.Dataset`, or a name/path for :func:`~tfrec.data.load_dataset`.
        models: Model names (default: by feedback, :func:`~tfrec.recommenders.default_models`).
        split: Split method (``random``, ``predefined``...).
        ks: Cut-offs of the ranking metrics.
        seed: Seed of the data, split and models.
        folds: Predefined folds to use.
        test_ratio: Test fraction of single-split methods.
        relevance_threshold: Relevant = rated at least this (default: every test item).
        config: Two-tower :class:`~tfrec.model.config.ModelConfig`.
        params: Parameters by model name (e.g. ``tfrec tune``'s best).
        implicit_as: How Surprise's rating models read implicit events.
        data_dir: MovieLens folder for named data sets.
        progress: Told when each fit starts and ends, and of the two-tower's steps.
        cold_history: With ``split="cold_users"``, the fraction of each held-out user's rows
            given as their history at test time (default 0.8: strong generalization; 0: the
            users are cold, features only).
        tensorboard_dir: TensorBoard logs of the two-tower (scalars per epoch, item embeddings
            for the projector) in ``<dir>/<model>/<fold>``.
        sample_users: Rank only this many test users per fold (a seeded sample, the same for
            every model); the payload records it, and the intervals say how far the sample's
            means can be trusted.
        shard: ``(index, count)``: rank only shard ``index``'s test users (every model is
            still fitted); :func:`tfrec.evaluation.shards.merge` joins the shards' outputs into
            the single run's results.
        tune: Give every model with a search space this many seeded Optuna trials on
            validation carves of each split's training rows (``validation_ratio`` of them, by
            the split's own carve; nDCG at the first k), then fit it with the best on the whole
            training rows and score it once on test (:func:`tfrec.evaluation.tuning.search`).
            The payload's ``run.params`` says what each model got. ``None``: the defaults.
        validation_ratio: The carve of ``tune``.

    Raises:
        TfrecError: Unknown models or parameters, bad options, invalid data.
    """
    params = dict(params or {})
    if tune is not None and params:
        raise TfrecError("--tune chooses every model's parameters on validation; leave out --params "
                         "(or pass `tfrec tune`'s best_params.toml with --params alone)")
    if tune is not None and tune < 1:
        raise TfrecError(f"--tune takes a number of trials of at least 1, got {tune}")
    for name in models or []:  # unknown names and parameters fail before any data is loaded
        make_model(name, seed=seed, config=config, params=params.get(name))
    dataset = data if isinstance(data, Dataset) else load_dataset(data, data_dir=data_dir, seed=seed)
    names = list(models or default_models(dataset.schema))
    rating_models_on_events(dataset, names, implicit_as)
    ks = sorted(set(ks))
    if cold_history is None:
        cold_history = DEFAULT_COLD_HISTORY if split == "cold_users" else 0.0
    options = {"split": split, "seed": seed, "folds": list(folds) if folds else None, "test_ratio": test_ratio,
               "cold_history": cold_history, "sample_users": sample_users, "ks": ks,
               "relevance_threshold": relevance_threshold, "models": names}
    splits, all_test_users = evaluation_splits(dataset, options)
    if shard is not None:
        splits = [s.shard_test_users(*shard) for s in splits]
    tuned = tune_models(splits, names, tune, seed=seed, k=ks[0], config=config,
                        validation_ratio=validation_ratio, progress=progress) if tune else {}
    params.update({name: found.best_params for name, found in tuned.items()})
    factories = {name: (lambda name=name: make_model(name, seed=seed, config=config, params=params.get(name),
                                                     implicit_as=implicit_as)) for name in names}
    result = evaluate(factories, splits, ks=ks, relevance_threshold=relevance_threshold, progress=progress,
                      log_dir=tensorboard_dir)
    run = provenance(seed=seed, params={n: params_record(n, params, tuned, tune, ks[0], validation_ratio)
                                        for n in names})
    payload = comparison_payload(dataset, splits, options, result, run, all_test_users)
    if shard is not None:
        payload["shard"] = {"index": shard[0], "count": shard[1]}
    return Comparison(dataset, splits, ks, names, result, payload)


def tune_models(splits: Sequence[Split], names: Sequence[str], trials: int, *, seed: int, k: int, config: Any,
                validation_ratio: float, progress: Progress | None) -> dict[str, Search]:
    """``trials`` Optuna trials for each of ``names`` that has a search space (the others keep
    their defaults), on validation carves of ``splits``: the best point of each, by name."""
    tunable = [n for n in names if search_space(n) is not None]
    found = search(splits, tunable, trials=trials, seed=seed, metric="ndcg", k=k,
                   validation_ratio=validation_ratio, config=config, fits=progress)
    return {f.model: f for f in found}


def params_record(name: str, params: dict[str, dict[str, Any]], tuned: dict[str, Search], trials: int | None,
                  k: int, validation_ratio: float) -> dict[str, Any]:
    """What ``results.json`` says of one model's parameters: their values and where they came from."""
    if name in tuned:
        found = tuned[name]
        return {"values": found.best_params, "source": f"tuned: best of {found.trials} trials on validation "
                f"carves ({validation_ratio:g} of training), nDCG@{k} {found.validation:.4f}"}
    if trials is not None:
        return {"values": {}, "source": "defaults (nothing to tune)"}
    return {"values": params.get(name, {}), "source": "tuned" if name in params else "defaults"}


def evaluation_splits(dataset: Dataset, options: dict[str, Any]) -> tuple[list[Split], list[int]]:
    """The splits a comparison with these options evaluates (a seeded sample of test users with
    ``sample_users``), and each fold's test-user count before sampling."""
    splits = make_splits(dataset, options["split"], seed=options["seed"], folds=options["folds"],
                         test_ratio=options["test_ratio"], cold_history=options["cold_history"])
    all_test_users = [s.summary()["test_users"] for s in splits]
    if options["sample_users"] is not None:
        splits = [s.sample_test_users(options["sample_users"], options["seed"]) for s in splits]
    return splits, all_test_users


def comparison_payload(dataset: Dataset, splits: Sequence[Split], options: dict[str, Any],
                       result: EvaluationResult, run: dict[str, Any], all_test_users: list[int]) -> dict[str, Any]:
    """The JSON record of a comparison (``results.json``): options, folds, results, provenance."""
    seed, sample_users = options["seed"], options["sample_users"]
    sampled = None if sample_users is None else {"users": sample_users, "of": all_test_users, "seed": seed}
    return {"data": dataset.name, "split": options["split"], "cold_history": options["cold_history"],
            "sampled_users": sampled, "folds": [s.summary() for s in splits], "models": options["models"],
            "ks": options["ks"], "relevance_threshold": options["relevance_threshold"], "seed": seed,
            "options": options, "run": run, **result.to_dict(seed=seed)}
