"""The value rules of :class:`~tfrec.model.config.ModelConfig`: allowed choices, numeric
limits and the combinations that cannot train, each refused with one line naming the option."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

from tfrec.errors import ConfigError

#: The choice-valued options: each one's allowed values, as the type ``ModelConfig`` declares
#: (``typing.get_args`` of these is what :func:`check_values` accepts: one place for both).
Optimizer = Literal["adagrad", "adam", "adamw", "lazy_adam"]
Negatives = Literal["auto", "in_batch", "mixed", "full"]
Examples = Literal["auto", "interactions", "users"]
UserLoss = Literal["auto", "multinomial", "squared"]
LinearSolver = Literal["closed_form", "sgd"]
HistoryWeighting = Literal["none", "rating", "recency"]
HistoryPooling = Literal["mean", "sqrt", "sum"]
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": get_args(Optimizer), "negatives": get_args(Negatives), "examples": get_args(Examples),
    "user_loss": get_args(UserLoss), "linear_solver": get_args(LinearSolver),
    "history_weighting": get_args(HistoryWeighting), "history_pooling": get_args(HistoryPooling),
}
#: ``history_linear``'s items x items arrays, learned (``linear_solver = "sgd"``): refused above
#: this many items (~9.2k items peaked at 6.3 GB; 16,688 took 20 GB and was killed on 24 GB).
LINEAR_MAX_ITEMS = 10_000
#: The same, solved (``closed_form``): no optimizer moments or gradients of the matrix, and
#: training adds its fixed scores by a sparse product; a few ``n x n`` float32 arrays remain
#: (the solve, the matrix, its training copy, the indexed embeddings).
SOLVED_LINEAR_MAX_ITEMS = 20_000


def linear_max_items(solver: str) -> int:
    """The largest catalog the linear path takes with ``linear_solver = solver``."""
    return SOLVED_LINEAR_MAX_ITEMS if solver == "closed_form" else LINEAR_MAX_ITEMS
#: ``negatives = "auto"`` uses the full softmax while batch_size x catalog logits stay below this
#: (ml-100k: 4096 x 1682 = 6.9M), mixed negatives above it.
FULL_SOFTMAX_LOGITS = 1 << 26
#: Upper bounds of the integer options: far above any sensible value, far below what would
#: exhaust memory before the first step (an embedding_dim of 1e8 would).
INTEGER_LIMITS = {"embedding_dim": (1, 4096), "id_embedding_dim": (1, 4096), "feature_embedding_dim": (1, 1024),
                  "epochs": (1, 10_000), "batch_size": (1, 1 << 20), "top_k": (1, 100_000),
                  "hash_bins_above": (1, 100_000_000), "num_hard_negatives": (1, 1 << 20),
                  "early_stopping_patience": (0, 10_000), "history_max_len": (1, 100_000), "num_sampled": (1, 1 << 20),
                  "steps_per_execution": (1, 10_000), "user_batch_size": (1, 1 << 20), "seed": (0, 2**31 - 1),
                  "rating_epochs": (0, 10_000), "rating_batch_size": (1, 1 << 20)}
#: Numeric options that also take ``"auto"`` (settled per data set before building).
AUTO_NUMBERS = ("kept_item_weight",)
MAX_WIDTH = 16_384
MAX_LAYERS = 16
FLOAT_LIMITS = {"learning_rate": (1e-12, 100.0), "weight_decay": (0.0, 1.0), "l2": (0.0, 100.0),
                "retrieval_weight": (0.0, 1e6), "rating_weight": (0.0, 1e6), "rating_blend": (0.0, 1e6),
                "temperature": (1e-6, 1e6), "linear_l2": (1e-6, 1e9), "rating_learning_rate": (1e-12, 100.0),
                "kept_item_weight": (0.0, 1.0)}


def check_values(config: Any) -> None:
    """Checks every option of ``config`` (a :class:`~tfrec.model.config.ModelConfig`).

    Raises:
        ConfigError: The first invalid value or combination, by name.
    """
    for name, (low, high) in INTEGER_LIMITS.items():
        value = getattr(config, name)
        if value is None and name in ("hash_bins_above", "num_hard_negatives", "early_stopping_patience",
                                      "id_embedding_dim"):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{name} must be an integer from {low} to {high:,}, got {value!r}")
    widths = config.tower_layers + config.rating_layers
    if any(not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= MAX_WIDTH for w in widths):
        raise ConfigError(f"tower_layers and rating_layers must list integers from 1 to {MAX_WIDTH:,}")
    if len(widths) > 2 * MAX_LAYERS:
        raise ConfigError(f"at most {MAX_LAYERS} hidden layers per stack")
    for name, (least, most) in FLOAT_LIMITS.items():
        value = getattr(config, name)
        if value is None or (name in AUTO_NUMBERS and value == "auto"):
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not least <= value <= most:
            raise ConfigError(f"{name} must be a number from {least:g} to {most:g}, got {value!r}")
    if config.retrieval_weight == 0 and config.rating_weight == 0:  # FLOAT_LIMITS refuses < 0
        raise ConfigError("retrieval_weight and rating_weight must not both be 0")
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(f"{name} must be one of {list(allowed)}, got {getattr(config, name)!r}")
    if config.examples == "users" and not config.history:
        raise ConfigError("examples = 'users' makes each user's history the query: it needs "
                          "history = true (or use examples = 'interactions')")
    if config.examples == "users" and config.negatives in ("in_batch", "mixed"):
        raise ConfigError(f"examples = 'users' scores every user against the whole catalog; "
                          f"negatives = {config.negatives!r} applies to examples = 'interactions' "
                          "(use negatives = 'auto' or 'full')")
    if config.history_linear not in (True, False, "auto"):
        raise ConfigError(f"history_linear must be true, false or \"auto\", got {config.history_linear!r}")
    if config.history_linear is True and (config.examples == "interactions" or not config.history):
        raise ConfigError("history_linear = true is trained on users' batches: it needs "
                          "examples = 'users' (and history = true)")
    for name in ("history_dropout", "linear_dropout", "dropout", "validation_ratio"):
        if not 0 <= getattr(config, name) < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {getattr(config, name)}")
    if config.history and not config.use_item_id:
        raise ConfigError("history = true embeds history items with the item id embedding: "
                          "it needs use_item_id = true")
    if config.projection is False and config.tower_layers:
        raise ConfigError("projection = false needs tower_layers = [] (hidden layers end in a "
                          "projection to embedding_dim)")
    flags = [f.name for f in dataclasses.fields(config)
             if f.type == "bool" and not isinstance(getattr(config, f.name), bool)]
    if flags:  # TOML's "yes" or 1 would read as true
        raise ConfigError(f"{flags[0]} must be true or false, got {getattr(config, flags[0])!r}")
