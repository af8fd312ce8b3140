"""The two-tower model's configuration: one dataclass, read from TOML by the CLI."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from tfrec.errors import ConfigError
from tfrec.model.config_check import (
    Examples,
    HistoryPooling,
    HistoryWeighting,
    LinearSolver,
    Negatives,
    Optimizer,
    UserLoss,
    check_values,
)
from tfrec.textio import parse_toml, read_text

#: :meth:`ModelConfig.feature_towers`: the fields that differ from the defaults.
FEATURE_TOWERS: dict[str, Any] = {
    "history": False, "use_user_id": True, "user_features": None, "item_features": None,
    "context_features": None, "tower_layers": [128], "embedding_dim": 64, "negatives": "in_batch",
    "retrieval_weight": 0.001, "batch_size": 1024, "epochs": 10, "learning_rate": 0.002,
    "item_bias": False, "rating_bias_init": False, "rating_epochs": 0,
}


#: The config's sections, each option in exactly one: what the model is (``model``), how it
#: trains (``training``), how training is validated and measured (``evaluation``). Saved
#: configs and the TOML layout use them; attributes stay flat (``config.embedding_dim``).
SECTIONS: dict[str, tuple[str, ...]] = {
    "model": ("embedding_dim", "tower_layers", "id_embedding_dim", "feature_embedding_dim", "use_user_id",
              "use_item_id", "user_features", "item_features", "context_features", "hash_bins_above", "normalize",
              "projection", "item_bias", "history", "history_max_len", "history_weighting", "history_pooling",
              "history_linear", "seen_penalty", "rating_layers", "use_cross", "use_bias", "rating_blend"),
    "training": ("temperature", "retrieval_weight", "rating_weight", "num_hard_negatives", "remove_accidental_hits",
                 "logq_correction", "cross_replica_negatives", "history_dropout", "kept_item_weight", "examples",
                 "user_batch_size", "user_loss", "linear_solver", "linear_l2", "linear_dropout", "negatives",
                 "num_sampled", "rating_epochs", "rating_batch_size", "rating_learning_rate", "rating_bias_init",
                 "dropout", "optimizer", "learning_rate", "weight_decay", "l2", "epochs", "batch_size",
                 "steps_per_execution", "jit_compile", "seed"),
    "evaluation": ("validation_ratio", "refit", "early_stopping_patience", "top_k"),
}
#: Option -> its section.
SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a two-tower model and its training.

    The defaults were chosen on validation carves of ml-100k u1, implicit ml-100k and synthetic
    data (benchmarks/bench_history.py measures them against EASE): the query is the history pooled
    over the candidate tower's item id embedding (ids only, 64-d), beside the denoising linear
    autoencoder's item-to-item matrix; users' batches, squared loss, history dropout 0.5, 20
    epochs; rating towers that rate and add to the score (``rating_blend``). ``auto`` settles each
    choice for the data (:func:`tfrec.model.training.build.resolve_examples`): no linear path above
    :func:`~tfrec.model.config_check.linear_max_items` items. The older feature towers: :meth:`feature_towers`.

    Attributes:
        embedding_dim: Output width of both towers (they must agree for the dot product).
        tower_layers: Hidden Dense widths of each tower before the output layer.
        id_embedding_dim: Width of the user and item id embeddings (``None``: ``embedding_dim``).
        feature_embedding_dim: Default width of categorical/bucketized/text embeddings.
        use_user_id, use_item_id: Feed the id embedding to the query (candidate) tower.
        user_features: User features to use (``None``, ``"all"`` in TOML: all; default none).
        item_features: Item features to use (``None``/``"all"``: all; default none).
        context_features: Context features to use (``None``/``"all"``: all; default none).
        hash_bins_above: Ids with a larger vocabulary are hashed into this many bins.
        normalize: L2-normalize both tower outputs (cosine similarity).
        temperature: Softmax temperature of the retrieval task (``None``: 1).
        retrieval_weight: Weight of the retrieval loss (0 disables retrieval), a sum over the
            batch (the rating loss is a batch mean; Adam's step sizes are per parameter).
        rating_weight: Weight of the rating loss (0 disables the rating task).
        rating_epochs: Epochs of the rating towers' phase after retrieval, on interaction batches
            of ``rating_batch_size`` at Adam's ``rating_learning_rate`` (:mod:`tfrec.model.network.rating`);
            0: the head reads the retrieval towers and trains with them.
        rating_blend: Weight of the rating towers' dot product added to the retrieval score,
            relative to the history score's spread (0: rankings from the history model alone).
        num_hard_negatives: Keep only this many hardest in-batch negatives.
        remove_accidental_hits: Mask in-batch negatives that are the positive item.
        logq_correction: Correct in-batch logits by the item's training frequency.
        cross_replica_negatives: Under a multi-replica strategy, gather the in-batch
            candidates of all replicas so each softmax sees the whole global batch (off: each
            replica's softmax sees only its local batch, a different and weaker objective).
        history: Feed the query tower each user's training items, pooled over the candidate
            tower's item id embedding (shared weights): the user is described by what they
            interacted with, so users unknown to training are served from a history.
        history_max_len: Items kept per user (the latest by timestamp, else the last read).
        history_weighting: ``none``, ``rating`` or ``recency`` weights of the pooled items.
        history_pooling: ``mean`` (weighted mean), ``sqrt`` (sum over sqrt of the weight sum)
            or ``sum`` (the weighted sum: longer histories give sharper scores, as in EASE).
        history_dropout: Fraction of history items dropped at random in training (denoising).
        kept_item_weight: Users' batches: the weight of the loss terms of the stored items the
            query kept (not dropped) -- items that serving never recommends back to the user;
            1 counts them as every other catalog item, 0 fits only what the query did not see
            (the dropped items and the unseen catalog; Steck 2020's emphasized denoising).
            Without history dropout every stored item is kept, and every one counts 1. ``auto``:
            0 with the squared loss (the linear path), 1 with the multinomial, whose softmax
            fared worse without them (ml-1m valid NDCG@20 0.1756 against 0.1868).
        projection: End each tower in a Dense ``embedding_dim`` layer. Off (with no
            ``tower_layers``), the towers' outputs are their inputs: with the history on and
            ids only, the query is the pooled history and the candidate the item's embedding
            itself (a tied linear model), which each side's input width must equal.
            ``None`` (default): a projection exactly when a tower has hidden layers or its
            input is not ``embedding_dim`` wide.
        item_bias: Add a learned bias per item to the retrieval score (a popularity prior): a
            constant 1 appended to the query embedding meets the item's bias appended to its
            candidate embedding, so the score stays one dot product (indexes and exports
            unchanged; embeddings are ``embedding_dim + 1`` wide). A user with no history then
            gets the bias ranking (a learned popularity), not an arbitrary one.
        examples: What one training example is (``auto``: ``users`` where they can train,
            else ``interactions``). ``interactions``: a (user, item) row, its
            query the user's history without that item, trained with ``negatives``.
            ``users`` (needs ``history``): a user, ``user_batch_size`` per step; the query is
            the user's stored history with items dropped at ``history_dropout`` (denoising),
            scored against the whole catalog, every stored item a target (Liang et al. 2018's
            Mult-DAE): an epoch costs far less (ml-100k: 9 s against ~130 s). One device only;
            the weight column is not read.
        user_batch_size: Users per step with ``examples = "users"``.
        user_loss: ``examples = "users"``'s retrieval loss: ``multinomial`` (above),
            ``squared`` (every catalog score against the multi-hot stored items; Steck 2020)
            or ``auto`` (``squared`` with the linear path, else ``multinomial``).
        history_linear: EASE's item-to-item matrix beside the towers (``examples = "users"``;
            :mod:`tfrec.model.network.linear`); at most
            :func:`~tfrec.model.config_check.linear_max_items` items (20,000 solved, 10,000
            learned; ``auto``: on with users' batches up to that many items).
        linear_solver: ``closed_form``: the matrix is the denoising linear autoencoder's
            optimum for the training histories, fixed before the towers train (they learn the
            rest); ``sgd``: learned with the towers.
        linear_l2: L2 penalty on that matrix, on EASE's scale (the whole data's sum of
            squares; with ``sgd`` each step adds its share ``user_batch_size / users``).
        linear_dropout: The closed form's input dropout rate (``sgd``: ``history_dropout``).
        seen_penalty: With the linear path, after training, a user's own history items score
            below every other item in the model's dot product (:func:`tfrec.model.training.seen_penalty.demote_seen`):
            lists that leave them out are unchanged; ``include_seen`` lists and metrics that rank
            the whole catalog put them last. ``false``: the model's own scores for them.
        negatives: ``auto`` (``full`` while ``batch_size x catalog`` stays under
            :data:`FULL_SOFTMAX_LOGITS`, else ``mixed``), ``in_batch`` (the other rows' items,
            logQ-corrected), ``mixed`` (in-batch plus ``num_sampled`` uniform catalog items,
            each logQ-corrected, Yi et al. 2020) or ``full`` (softmax over the whole catalog).
        num_sampled: Uniform negatives per batch with ``negatives = "mixed"``.
        rating_layers: Hidden widths of the rating head over the two tower outputs.
        use_cross: Put a DCN ``Cross`` layer in front of the rating head.
        use_bias: Add global, user and item bias terms to the predicted rating.
        rating_bias_init: Start the user and item bias terms at their shrunken mean deviations
            from the mean training rating (:meth:`TrainingStats.rating_biases`) instead of 0.
        dropout: Dropout rate in the towers and the rating head.
        optimizer: ``adagrad``, ``adam``, ``adamw`` or ``lazy_adam`` (Adam on the embedding
            rows a batch touches only: much faster with large id vocabularies).
        learning_rate: Optimizer learning rate.
        weight_decay: Decoupled weight decay for ``adamw``.
        l2: L2 penalty on embeddings.
        epochs: Training epochs.
        batch_size: Training batch size (also the number of in-batch negatives).
        steps_per_execution: Training steps per call of the compiled step function (Keras's
            ``steps_per_execution``): fewer returns to Python between steps; progress is
            reported every that many steps. Used only when an epoch of the phase has more
            steps (the multi-step loop costs one more trace of the step, seconds); one under a
            distribution strategy (its collectives fail inside the multi-step loop).
        validation_ratio: Fraction of train rows held out to pick the epoch (a split's carve, else a hash).
        refit: With the carve, train again on all rows for the best validation epoch's count
            (:func:`tfrec.model.training.fit.train`); off: keep the carve's model.
        early_stopping_patience: Stop after this many epochs without validation improvement (``None``: never).
        top_k: ``k`` of the factorized top-k metrics.
        jit_compile: Compile the towers' Dense stacks and the in-batch softmax loss with XLA
            (the id/category lookups are hash tables, which XLA cannot compile).
        seed: Seed for initialization, shuffling and dropout.
    """

    embedding_dim: int = 64
    tower_layers: tuple[int, ...] = ()
    id_embedding_dim: int | None = None
    feature_embedding_dim: int = 16
    use_user_id: bool = False
    use_item_id: bool = True
    user_features: tuple[str, ...] | None = ()
    item_features: tuple[str, ...] | None = ()
    context_features: tuple[str, ...] | None = ()
    hash_bins_above: int | None = None
    normalize: bool = False
    temperature: float | None = None
    retrieval_weight: float = 1.0
    rating_weight: float = 1.0
    num_hard_negatives: int | None = None
    remove_accidental_hits: bool = False
    logq_correction: bool = True
    cross_replica_negatives: bool = True
    history: bool = True
    history_max_len: int = 1000
    history_weighting: HistoryWeighting = "none"
    history_pooling: HistoryPooling = "sqrt"
    history_dropout: float = 0.5
    kept_item_weight: float | Literal["auto"] = "auto"
    projection: bool | None = None
    item_bias: bool = True
    examples: Examples = "auto"
    user_batch_size: int = 128
    user_loss: UserLoss = "auto"
    history_linear: bool | Literal["auto"] = "auto"
    linear_solver: LinearSolver = "closed_form"
    linear_l2: float = 200.0
    linear_dropout: float = 0.67
    seen_penalty: bool = True
    negatives: Negatives = "auto"
    num_sampled: int = 1024
    rating_epochs: int = 10
    rating_batch_size: int = 1024
    rating_learning_rate: float = 0.002
    rating_blend: float = 2.0
    rating_layers: tuple[int, ...] = (64,)
    use_cross: bool = False
    use_bias: bool = True
    rating_bias_init: bool = True
    dropout: float = 0.0
    optimizer: Optimizer = "adam"
    learning_rate: float = 0.001
    weight_decay: float = 0.0
    l2: float = 0.0
    epochs: int = 20
    batch_size: int = 4096
    steps_per_execution: int = 16
    validation_ratio: float = 0.0
    refit: bool = False
    early_stopping_patience: int | None = None
    top_k: int = 100
    jit_compile: bool = False
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("user_features", "item_features", "context_features"):
            if getattr(self, name) == "all":  # TOML has no null: "all" is every schema feature
                object.__setattr__(self, name, None)
        for name in ("tower_layers", "rating_layers", "user_features", "item_features", "context_features"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        check_values(self)

    @classmethod
    def feature_towers(cls, **changes: Any) -> ModelConfig:
        """The feature-driven towers (the default before the history model: :data:`FEATURE_TOWERS`,
        user/context and item features, ids, in-batch negatives); ``changes`` applied on top."""
        return cls.from_dict({**cls().to_dict(), **FEATURE_TOWERS, **changes})

    @property
    def masks_accidental_hits(self) -> bool:
        """Whether training masks negatives that are the positive (always with ``mixed``)."""
        return self.remove_accidental_hits or self.negatives == "mixed"

    @property
    def id_dim(self) -> int:
        """Width of the id embeddings: ``id_embedding_dim``, else ``embedding_dim``."""
        return self.id_embedding_dim or self.embedding_dim

    def selected_features(self, schema, side: str) -> tuple:
        """The schema's ``side`` features (``"user"``, ``"item"`` or ``"context"``) this config
        uses: all of them, or those named in ``{side}_features`` in that order.

        Raises:
            ConfigError: A named feature is not in the schema.
        """
        features = getattr(schema, f"{side}_features")
        names = getattr(self, f"{side}_features")
        if names is None:
            return features
        known = {f.name: f for f in features}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"{side}_features {unknown} are not in the schema; it has {list(known)}")
        return tuple(known[n] for n in names)

    def replace(self, **changes: Any) -> ModelConfig:
        """Returns a copy with ``changes`` applied."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Returns the flat JSON/TOML-ready form (``{option: value}``)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def to_sections(self) -> dict[str, dict[str, Any]]:
        """Returns the grouped form, ``{section: {option: value}}`` (:data:`SECTIONS`): what saved
        configs hold and the TOML layout."""
        flat = self.to_dict()
        return {section: {name: flat[name] for name in names} for section, names in SECTIONS.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Builds a config from the grouped form (:meth:`to_sections`), the flat one, or both
        mixed (the flat keys of earlier releases keep working; ``[model]`` may hold any option,
        as it did), rejecting unknown keys by name.

        Raises:
            ConfigError: Unknown keys, an option in another section's table, an option given
                twice, or invalid values.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        flat: dict[str, Any] = {}
        for key, value in data.items():
            grouped = key in SECTIONS and isinstance(value, dict)
            for name, item in (value.items() if grouped else [(key, value)]):
                if grouped and key != "model" and name in known and SECTION_OF[name] != key:
                    raise ConfigError(f"{name} belongs in [{SECTION_OF[name]}], not [{key}]")
                if name in flat:
                    raise ConfigError(f"model option {name!r} is given twice")
                flat[name] = item
        unknown = sorted(set(flat) - known)
        if unknown:
            raise ConfigError(f"unknown model option(s) {unknown}; allowed: {sorted(known)}")
        try:
            return cls(**flat)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> ModelConfig:
        """Reads a config from a TOML file: ``[model]``, ``[training]`` and ``[evaluation]``
        tables (:data:`SECTIONS`), or the flat options of earlier releases at the top level or
        in ``[model]``.

        Raises:
            ConfigError: Missing file, invalid TOML, unknown keys or invalid values.
        """
        path = Path(path)
        data = parse_toml(read_text(path, ConfigError, "config file"), ConfigError, str(path))
        for section in SECTIONS:
            if section in data and not isinstance(data[section], dict):
                raise ConfigError(f"{path}: [{section}] must be a table of options")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
