"""Tuning on validation, never on test: ``tfrec tune``.

For every split, a validation set is carved from the training rows -- the seeded (user, item)
hash of :mod:`tfrec.data.holdout`, the same carve for every model -- and each model's search
space (declared next to its adapter, :func:`tfrec.recommenders.search_space`) is searched with
Optuna's seeded TPE sampler, maximizing the mean validation metric over the splits. Studies
live in SQLite inside the output folder, so a killed tune resumes where it stopped. The test
rows are touched only at the end, to report the tuned and the default parameters side by side.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrec.errors import ConfigError
from tfrec.evaluation.harness import evaluate
from tfrec.evaluation.splits import Split
from tfrec.progress import Progress
from tfrec.recommenders import make_model, search_space
from tfrec.recommenders.registry import entry
from tfrec.textio import parse_toml, read_text

logger = logging.getLogger(__name__)

STUDY_FILE = "tune.db"
PARAMS_FILE = "best_params.toml"


def read_params(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Model parameters by model name from a TOML file (``[ease]`` ``l2 = 310.5`` ...).

    Raises:
        ConfigError: Unreadable file, or a top-level value that is not a table.
    """
    data = parse_toml(read_text(path, ConfigError, "parameters file"), ConfigError, str(path))
    bad = [name for name, value in data.items() if not isinstance(value, dict)]
    if bad:
        raise ConfigError(f"{path}: {bad} must be tables of parameters ([model] key = value)")
    return data


def to_toml(params: dict[str, dict[str, Any]]) -> str:
    """The TOML text of parameters by model name (numbers, booleans, strings, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(f'["{name}"]\n' + "".join(f"{k} = {value(v)}\n" for k, v in values.items())
                     for name, values in params.items())


@dataclasses.dataclass(frozen=True)
class Search:
    """The best point one model's study found on the validation carves.

    Attributes:
        model: Model name.
        trials: Trials in the study (including those of earlier, resumed runs).
        best_params: Parameters of the best trial.
        validation: Its mean validation metric.
    """

    model: str
    trials: int
    best_params: dict[str, Any]
    validation: float


@dataclasses.dataclass(frozen=True)
class ModelTuning(Search):
    """What ``tfrec tune`` found: the best point of :class:`Search`, and the test metric with the
    default and with the best parameters (``test_default``, ``test_tuned``)."""

    test_default: float
    test_tuned: float


def validation_splits(splits: Sequence[Split], ratio: float, seed: int) -> list[Split]:
    """Each split's training rows divided into (train, validation-as-test) by the split's own
    carve (:meth:`Split.carve`: the latest rows of a temporal split, the hash otherwise)."""
    inner = []
    for split in splits:
        kept, held = split.carve(ratio, seed)
        inner.append(Split(f"{split.name}-validation", split.dataset, kept,
                           held if held is not None else kept.iloc[:0], method=split.method, n_last=split.n_last))
    return inner


def _score(name: str, params: dict[str, Any], splits: Sequence[Split], *, metric: str, k: int,
           seed: int, config: Any, fits: Progress | None = None) -> float:
    result = evaluate({name: lambda: make_model(name, seed=seed, config=config, params=params)}, splits, ks=(k,),
                      progress=fits)
    rows = result.rows
    values = rows[(rows.metric == metric) & (rows.k == k)]["value"]
    return float(values.mean())


def search(splits: Sequence[Split], models: Sequence[str], *, trials: int, seed: int = 42, metric: str = "ndcg",
           k: int = 10, validation_ratio: float = 0.1, config: Any = None, storage: str | None = None,
           progress: Callable[[str, int, float], None] | None = None,
           fits: Progress | None = None) -> list[Search]:
    """Searches each model's space with Optuna's seeded TPE sampler on validation carves of
    ``splits`` (their test rows are never read); the defaults are each study's first trial.

    Args:
        splits: The experiment's splits.
        models: Model names, each with a search space.
        trials: Trials per model in total (a resumed study runs only the missing ones).
        seed: Seed of the sampler, the carve and the models.
        metric: Ranking metric to maximize (``ndcg``, ``recall``, ``map``...), at ``k``.
        k: Its cut-off.
        validation_ratio: Fraction of each split's training rows held out for validation.
        config: Base :class:`~tfrec.model.config.ModelConfig` of the two-tower models.
        storage: Optuna storage URL (a SQLite file resumes a killed search); ``None``: in memory.
        progress: Called with ``(model, trial number, value)`` after each trial.
        fits: Told of each trial's fits (the harness's progress hooks).

    Raises:
        ConfigError: A model without a search space, or ``trials`` below 1.
    """
    import optuna

    if trials < 1:
        raise ConfigError(f"trials must be at least 1, got {trials}")
    spaces = {name: search_space(name) for name in models}
    missing = [name for name, space in spaces.items() if space is None]
    if missing:
        raise ConfigError(f"{missing} have nothing to tune; tune models with parameters (e.g. ease, als)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner = validation_splits(splits, validation_ratio, seed)
    found = []
    for name, space in spaces.items():
        if space is None:  # refused above
            continue
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
        if not study.trials and entry(name).defaults:
            study.enqueue_trial(dict(entry(name).defaults))  # the defaults are the first candidate

        def objective(trial: Any, name: str = name, space: Any = space) -> float:
            value = _score(name, space(trial), inner, metric=metric, k=k, seed=seed, config=config, fits=fits)
            if progress is not None:
                progress(name, trial.number, value)
            return value if np.isfinite(value) else -1.0

        if done < trials:
            study.optimize(objective, n_trials=trials - done)
        found.append(Search(name, len(study.trials), dict(study.best_params), float(study.best_value)))
        logger.info("searched %s: %s", name, found[-1])
    return found


def tune(splits: Sequence[Split], models: Sequence[str], out_dir: str | os.PathLike, *, trials: int,
         seed: int = 42, metric: str = "ndcg", k: int = 10, validation_ratio: float = 0.1,
         config: Any = None, progress: Callable[[str, int, float], None] | None = None) -> list[ModelTuning]:
    """``tfrec tune``: :func:`search` with its studies in SQLite inside ``out_dir`` (an existing
    one is resumed), then each model scored on the test rows with its default and its best
    parameters, side by side.

    Raises:
        ConfigError: A model without a search space, or ``trials`` below 1.
    """
    storage = f"sqlite:///{Path(out_dir).resolve() / STUDY_FILE}"
    found = search(splits, models, trials=trials, seed=seed, metric=metric, k=k,
                   validation_ratio=validation_ratio, config=config, storage=storage, progress=progress)
    return [ModelTuning(f.model, f.trials, f.best_params, f.validation,
                        _score(f.model, {}, splits, metric=metric, k=k, seed=seed, config=config),
                        _score(f.model, f.best_params, splits, metric=metric, k=k, seed=seed, config=config))
            for f in found]
