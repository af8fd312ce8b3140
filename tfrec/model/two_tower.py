"""The two-tower model: schema-driven towers inside a ``tfrs.Model`` with two tasks.

The query tower reads the user's pooled history (shared item embeddings), the user id and
user/context features as configured; the candidate tower the item id and item features.
Retrieval is ``tfrs.tasks.Retrieval`` (in-batch, full-catalog or mixed negatives; factorized
top-k metrics only in evaluation); rating ``tfrs.tasks.Ranking`` on a head over both towers, or
over rating towers of its own trained after retrieval (``rating_epochs``; :mod:`tfrec.model.rating`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.encoder import as_id_dtype, lookup_layer
from tfrec.model.history import HistoryPooling, HistorySide
from tfrec.model.linear import ItemToItem
from tfrec.model.negatives import CatalogNegatives, in_batch_loss
from tfrec.model.rating import RatingHead, RatingSide, RatingTowers, TowerScores, uses_rating_towers
from tfrec.model.specs import FeatureSpec, plain
from tfrec.model.steps import EpochMeanSteps
from tfrec.model.tower import Tower, batched_apply
from tfrec.schema import id_dtype


def _projection(config: ModelConfig, specs: Sequence[FeatureSpec], extra: int) -> bool:
    """Whether a tower ends in a Dense projection: as configured, else (``None``) whenever it
    has hidden layers or its input is not already ``embedding_dim`` wide."""
    if config.projection is not None:
        return config.projection
    return bool(config.tower_layers) or sum(s.embedding_dim for s in specs) + extra != config.embedding_dim




class TwoTowerModel(HistorySide, RatingSide, EpochMeanSteps, tfrs.Model):
    """Query and candidate towers trained with a retrieval task and a rating task.

    Build one with :func:`tfrec.model.build.build_model`, which fits the specs on the training
    rows. ``get_config`` returns the JSON form of every argument, so a saved model rebuilds
    from JSON alone (:mod:`tfrec.model.persist`).

    Args:
        config: Model options (or their dict form, as in a saved config).
        query_specs: Feature specs of the query tower.
        candidate_specs: Feature specs of the candidate tower.
        user_id, item_id: The id column names.
        user_id_dtype, item_id_dtype: ``"int"`` or ``"string"``.
        user_vocabulary: Training user ids (for bias terms).
        item_vocabulary: Training item ids (bias terms, logQ correction).
        item_probabilities: Training frequency of each ``item_vocabulary`` entry (logQ).
        rating, weight: The rating and sample-weight columns, or ``None``.
        global_mean: Mean training rating (the bias term's starting point).
        history_pairs: Size of the history table (``config.history``; filled by the builder).
        rating_specs: The rating towers' user and item feature specs (``rating_epochs``).

    With ``config.history`` the query tower also reads each user's pooled history (the table
    of :class:`~tfrec.model.history.HistoryPooling`, keyed by user id), or an explicit history
    given as :data:`~tfrec.model.history.HISTORY_ITEMS` (``[batch, n]`` item ids, padded with
    any id of weight 0) and ``HISTORY_WEIGHTS`` (``[batch, n]``) in the features: a user unknown
    to training (:class:`~tfrec.model.history.HistorySide`).
    """

    def __init__(self, config: ModelConfig | dict[str, Any],
                 query_specs: Sequence[FeatureSpec | dict[str, Any]],
                 candidate_specs: Sequence[FeatureSpec | dict[str, Any]],
                 user_id: str, item_id: str, user_id_dtype: str, item_id_dtype: str,
                 user_vocabulary: list, item_vocabulary: list, item_probabilities: list[float],
                 rating: str | None = None, weight: str | None = None,
                 global_mean: float = 0.0, history_pairs: int = 0,
                 rating_specs: Sequence[Sequence[FeatureSpec | dict[str, Any]]] = ((), ()), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_config = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(plain(config))
        self.query_specs = [FeatureSpec.coerce(s) for s in query_specs]
        self.candidate_specs = [FeatureSpec.coerce(s) for s in candidate_specs]
        self.user_id, self.item_id = user_id, item_id
        self.user_id_dtype, self.item_id_dtype = user_id_dtype, item_id_dtype
        self.user_vocabulary, self.item_vocabulary = list(user_vocabulary), list(item_vocabulary)
        self.item_probabilities = [float(p) for p in item_probabilities]
        self.rating, self.weight, self.global_mean = rating, weight, float(global_mean)
        c = self.model_config
        # Both towers end in c.embedding_dim, so their outputs always dot-multiply.
        self.query_tower = Tower(self.query_specs, c.tower_layers, c.embedding_dim, c.dropout,
                                 c.normalize, c.l2, c.jit_compile,
                                 _projection(c, self.query_specs, c.id_dim if c.history else 0),
                                 name="query_tower")
        self.candidate_tower = Tower(self.candidate_specs, c.tower_layers, c.embedding_dim,
                                     c.dropout, c.normalize, c.l2, c.jit_compile,
                                     _projection(c, self.candidate_specs, 0), name="candidate_tower")
        self.history_pairs = int(history_pairs)
        self.history_pool: HistoryPooling | None = None
        if c.history:
            lookup, embedding = self.candidate_tower.encoder.id_layers(item_id)
            self.history_pool = HistoryPooling(
                len(self.user_vocabulary) + 1, self.history_pairs, c.history_pooling, c.history_dropout,
                lookup, embedding, ratings=c.examples == "users" and rating is not None and c.rating_weight > 0,
                name="history")
        self.linear: ItemToItem | None = None
        if c.history_linear is True:  # settled by resolve_examples before building
            self.linear = ItemToItem(int(self._history().item_embedding.input_dim),
                                     solved=c.linear_solver == "closed_form", name="history_linear")
        self.negatives: CatalogNegatives | None = None
        if c.item_bias:
            self.retrieval_bias = tf.keras.layers.Embedding(len(self.item_vocabulary) + 1, 1,
                                                            embeddings_initializer="zeros",
                                                            name="retrieval_bias")
        self.item_index = lookup_layer(item_id_dtype, self.item_vocabulary, "item_index")
        self.user_index = lookup_layer(user_id_dtype, self.user_vocabulary, "user_index")
        self._log_probabilities = tf.constant(
            np.log(np.concatenate([[min(self.item_probabilities or [1.0])], self.item_probabilities])),
            dtype=tf.float32)
        self._retrieval_loss = (tf.function(self._retrieval_loss_fn, jit_compile=True)
                                if c.jit_compile else self._retrieval_loss_fn)
        self.topk_index = tfrs.layers.factorized_top_k.BruteForce(k=c.top_k, name="topk_index")
        self._index_ready = False
        ks = sorted({k for k in (1, 5, 10, 50, 100) if k <= c.top_k} | {c.top_k})
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=self.topk_index, ks=ks),
            temperature=c.temperature, num_hard_negatives=c.num_hard_negatives,
            remove_accidental_hits=c.masks_accidental_hits)
        # A rating head exists only when trained (ratings, rating_weight > 0); with rating_epochs
        # on rating towers of its own (a second phase).
        self.has_rating_head = rating is not None and c.rating_weight > 0
        self.rating_specs = [[FeatureSpec.coerce(s) for s in side] for side in rating_specs]
        self.rating_towers: RatingTowers | None = None
        # The fit running: "retrieval", "rating" (tfrec.model.rating_fit), None (every task).
        self.training_phase: str | None = None
        n_users, n_items = len(self.user_vocabulary) + 1, len(self.item_vocabulary) + 1
        if uses_rating_towers(c, rating is not None):
            self.rating_towers = RatingTowers(c, self.rating_specs[0], self.rating_specs[1], n_users, n_items,
                                              self.global_mean, name="rating_towers")
        elif self.has_rating_head:
            self.rating_head = RatingHead(c, n_users, n_items, self.global_mean, name="rating_head")
        self.tower_scores = (TowerScores(n_users, n_items, c.embedding_dim, name="tower_scores")
                             if self.rating_towers is not None and c.rating_blend > 0 else None)
        if self.has_rating_head:
            # Per-example losses, averaged over the global batch in compute_loss: correct under
            # a distribution strategy too (Keras losses with AUTO reduction are not).
            self.rating_task = tfrs.tasks.Ranking(
                loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
                metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")])
        # Epoch means (Keras logs what train_step returns; a bare tensor would be the last
        # batch's value): the objective per batch, and the retrieval cross-entropy per example,
        # which training and evaluation report on the same scale.
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.retrieval_loss_tracker = tf.keras.metrics.Mean(name="retrieval_loss")

    # ------------------------------------------------------------------ inference primitives
    def user_rows(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Index ``[batch]`` of each row's user id in the user vocabulary (0: unknown)."""
        return self.user_index(as_id_dtype(features[self.user_id], self.user_id_dtype))

    def item_rows(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Index ``[batch]`` of each row's item id in the item vocabulary (0: unknown)."""
        return self.item_index(as_id_dtype(features[self.item_id], self.item_id_dtype))

    def query_embedding(self, features: dict[str, tf.Tensor], training: bool = False,
                        positives: tf.Tensor | None = None) -> tf.Tensor:
        """User/query embeddings ``[batch, embedding_dim (+ 1 with item_bias) (+ n_index with
        history_linear: the multi-hot history) (+ embedding_dim with rating_blend)]``.

        Args:
            features: ``{feature: Tensor[batch]}`` (plus the history inputs, see the class).
            training: Training mode (dropout, history dropout).
            positives: ``[batch]`` item index of each row's positive, removed from the row's
                stored history (training only).
        """
        extra, linear = None, None
        if self.linear is not None:  # one dropout draw for both (a solved matrix reads it all)
            items, weights = self.history_items(features, training)
            full = self.history_items(features) if training and self.linear.solved else (items, weights)
            extra, linear = self._history().pool(items, weights), self.linear.query(*full)
        elif self.history_pool is not None:
            extra = self.history_vector(features, training, positives)
        query = self.query_tower(features, training=training, extra=extra)
        if self.model_config.item_bias:  # a constant 1 that meets the candidate's bias
            query = tf.concat([query, tf.ones_like(query[:, :1])], axis=-1)
        if linear is not None:
            query = tf.concat([query, linear], axis=-1)
        if self.tower_scores is not None:  # zeros until the rating phase fills them
            query = tf.concat([query, self.tower_scores.query(self.user_rows(features))], axis=-1)
        return query

    def set_training_catalog(self, columns: dict[str, np.ndarray]) -> None:
        """The catalog (``{column: array[n_items]}``) the ``full`` and ``mixed`` negatives
        draw from; needed before training with them."""
        self.negatives = CatalogNegatives(columns, self.item_id, self.item_id_dtype, self.item_index,
                                          self.history_pool.item_lookup if self.history_pool else None)

    def candidate_embedding(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """Item/candidate embeddings ``[batch, embedding_dim (+ 1: the item's bias) (+ n_index:
        its row of the item-to-item matrix) (+ embedding_dim: its rating-tower output)]``."""
        candidate = self.candidate_tower(features, training=training)
        if self.model_config.item_bias:
            candidate = tf.concat([candidate, self.retrieval_bias(self.item_rows(features))], axis=-1)
        if self.linear is not None:
            rows = self.linear.candidate(self.item_positions(features[self.item_id]), seen=not training)
            candidate = tf.concat([candidate, rows], -1)
        if self.tower_scores is not None:
            candidate = tf.concat([candidate, self.tower_scores.candidate(self.item_rows(features))], axis=-1)
        return candidate

    def call(self, features: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        query = self.query_embedding(features, training)
        candidate = self.candidate_embedding(features, training)
        out = {"query_embedding": query, "candidate_embedding": candidate}
        if self.has_rating_head:
            out["rating"] = self.rating_from_embeddings(query, candidate, features, training)
        return out

    # ------------------------------------------------------------------ training
    def index_candidates(self, item_features: dict[str, np.ndarray], batch_size: int = 8192) -> None:
        """(Re)builds the top-k index over the catalog from current candidate embeddings.

        Args:
            item_features: ``{feature: array[n_items]}`` for the whole catalog, including the
                item id column. The embeddings indexed, ``[n_items, dim]``, are kept in
                :attr:`indexed_item_embeddings` (row order of ``item_features``).
        """
        self.indexed_item_embeddings = batched_apply(self.candidate_embedding, item_features, batch_size)
        ids = tf.constant(item_features[self.item_id])
        if self.item_id_dtype == "string":
            ids = tf.strings.as_string(ids) if ids.dtype != tf.string else ids
        self.topk_index.index(tf.constant(self.indexed_item_embeddings), ids)
        self._index_ready = True
        self.reset_compile_cache()

    def input_dtypes(self) -> dict[str, dict[str, str]]:
        """Input names and dtypes (``float32``/``int64``/``string``): the query side (user id, user
        and context features), the candidate side (item id, item features), and what the rating
        towers read beyond them (``rating_query``, ``rating_candidate``; empty without them)."""
        sides: dict[str, dict[str, str]] = {}
        for side, specs, id_column, id_type in (
            ("query", self.query_specs, self.user_id, self.user_id_dtype),
            ("candidate", self.candidate_specs, self.item_id, self.item_id_dtype),
        ):
            sides[side] = {spec.name: spec.input_dtype for spec in specs}
            sides[side].setdefault(id_column, id_dtype(id_type))
        for side, specs in (("query", self.rating_specs[0]), ("candidate", self.rating_specs[1])):
            sides[f"rating_{side}"] = {s.name: s.input_dtype for s in specs if s.name not in sides[side]}
        return sides

    def training_columns(self) -> set[str]:
        """The input columns training and evaluation read: the ids, the towers' features, the
        rating when the rating head trains, and the weight (batch sources need not gather the
        others)."""
        names = {name for side in self.input_dtypes().values() for name in side}
        return names | {c for c in (self.rating if self.has_rating_head else None, self.weight) if c}

    def reset_compile_cache(self) -> None:
        """Forgets traced train/test functions (they captured whether the index was ready)."""
        self.test_function = self.predict_function = None

    def compute_loss(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """The weighted task losses of one (per-replica) batch (the retrieval losses are in
        :mod:`tfrec.model.negatives`).

        The retrieval loss is a sum over the local batch and the rating loss an average over
        the global batch, so summing the replicas' gradients (what the optimizer does) gives
        the single-device gradient.
        """
        c = self.model_config
        if self.training_phase == "rating":
            return self.rating_towers_loss(inputs)
        if training and c.examples == "users":  # a batch of users, not of interactions
            if self.negatives is None:
                raise ConfigError("examples = 'users' needs the catalog: call set_training_catalog() first")
            return self.negatives.user_loss(self, inputs)
        positives = None
        if training and self.history_pool is not None:
            positives = self.item_positions(inputs[self.item_id])
        query = self.query_embedding(inputs, training, positives)
        candidate = self.candidate_embedding(inputs, training)
        sample_weight = inputs[self.weight] if self.weight else None
        loss = tf.constant(0.0)
        retrieval = None
        if training and c.retrieval_weight > 0 and c.negatives != "in_batch" and self.negatives is None:
            raise ConfigError(f"negatives = {c.negatives!r} needs the catalog: call "
                              "set_training_catalog() before fit (tfrec.model.fit.train does)")
        if c.retrieval_weight > 0 and self.negatives is not None and (training or c.negatives == "full"):
            # Evaluation uses the training softmax too when it is exact (full), so that the
            # validation and test losses are comparable with the training loss.
            retrieval = self.negatives.loss(self, query, candidate, inputs[self.item_id],
                                            sample_weight, training)
            if not training and self._index_ready:  # the factorized top-k metrics only
                self.retrieval_task(query, candidate, candidate_ids=inputs[self.item_id],
                                    compute_metrics=True, compute_batch_metrics=False)
        elif c.retrieval_weight > 0:
            retrieval = in_batch_loss(self, query, candidate, inputs[self.item_id], sample_weight, training)
        if retrieval is not None:
            rows = tf.cast(tf.shape(query)[0], tf.float32)
            self.retrieval_loss_tracker.update_state(retrieval / rows, sample_weight=rows)
            loss += c.retrieval_weight * retrieval
        if self.has_rating_head and self.rating is not None and (
                self.rating_towers is None or self.training_phase is None):  # else their own phase
            prediction = self.rating_from_embeddings(query, candidate, inputs, training)
            per_example = self.rating_task(
                labels=tf.cast(inputs[self.rating], tf.float32)[:, None],
                predictions=prediction[:, None], sample_weight=sample_weight)
            loss += c.rating_weight * tf.nn.compute_average_loss(per_example)
        return loss

    def _retrieval_loss_fn(self, query, candidates, sample_weight, sampling, candidate_ids):
        """The in-batch softmax loss alone (no metrics), XLA-compiled with ``jit_compile``."""
        return self.retrieval_task(query, candidates, sample_weight=sample_weight,
                                   candidate_sampling_probability=sampling,
                                   candidate_ids=candidate_ids, compute_metrics=False,
                                   compute_batch_metrics=False)

    def get_config(self) -> dict[str, Any]:
        return plain({
            "config": self.model_config.to_dict(),
            "query_specs": [s.to_dict() for s in self.query_specs],
            "candidate_specs": [s.to_dict() for s in self.candidate_specs], "user_id": self.user_id,
            "item_id": self.item_id, "user_id_dtype": self.user_id_dtype,
            "item_id_dtype": self.item_id_dtype, "user_vocabulary": self.user_vocabulary,
            "item_vocabulary": self.item_vocabulary, "item_probabilities": self.item_probabilities,
            "rating": self.rating, "weight": self.weight, "global_mean": self.global_mean,
            "history_pairs": self.history_pairs,
            "rating_specs": [[s.to_dict() for s in side] for side in self.rating_specs],
        })

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TwoTowerModel:
        return cls(**config)
