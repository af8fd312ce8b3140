"""The two-tower network: schema-driven towers inside a ``tfrs.Model``, what they compute
(embeddings, ratings, the top-k index) and read; its training objective is
:class:`~tfrec.model.network.two_tower.TwoTowerModel`'s.

The query tower reads the user's pooled history (shared item embeddings), the user id and
user/context features as configured; the candidate tower the item id and item features.
Retrieval is ``tfrs.tasks.Retrieval`` with one of the objectives of
:mod:`tfrec.model.network.losses` (factorized top-k metrics only in evaluation); rating
``tfrs.tasks.Ranking`` on a head over both towers, or over rating towers of its own trained
after retrieval (``rating_epochs``; :mod:`tfrec.model.network.rating`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import IdIndex, lookup_layer
from tfrec.model.features.specs import FeatureSpec, plain
from tfrec.model.network.history import HistoryPooling, QueryHistory
from tfrec.model.network.linear import ItemToItem
from tfrec.model.network.losses import (
    FullSoftmax,
    InBatchSoftmax,
    RetrievalLoss,
    TrainingCatalog,
    make_objective,
    softmax_loss,
)
from tfrec.model.network.rating import RatingHead, RatingSide, RatingTowers, TowerScores, uses_rating_towers
from tfrec.model.network.steps import EpochMeanModel
from tfrec.model.network.tower import batched_apply, side_tower
from tfrec.model.settled import Settled
from tfrec.schema import id_dtype


class TwoTowerNetwork(EpochMeanModel):
    """Query and candidate towers with a retrieval task and a rating task (their losses:
    :class:`~tfrec.model.network.two_tower.TwoTowerModel`).

    Build a model with :func:`tfrec.model.training.build.build_model`, which fits the specs on the
    training rows. ``get_config`` returns the JSON form of every argument, so a saved model
    rebuilds from JSON alone (:mod:`tfrec.model.network.persist`).

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
    of :class:`~tfrec.model.network.history.HistoryPooling`, keyed by user id), or an explicit
    history given as :data:`~tfrec.model.features.history_table.HISTORY_ITEMS` (``[batch, n]``
    item ids, padded with any id of weight 0) and ``HISTORY_WEIGHTS`` (``[batch, n]``) in the
    features: a user unknown to training (:class:`~tfrec.model.network.history.QueryHistory`).
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
        self.settled = Settled.of(c)  # the auto choices, as resolve_examples settled them
        self.query_tower = side_tower(c, self.query_specs, c.id_dim if c.history else 0, "query_tower")
        self.candidate_tower = side_tower(c, self.candidate_specs, 0, "candidate_tower")
        self.item_index = lookup_layer(item_id_dtype, self.item_vocabulary, "item_index")
        self.user_index = lookup_layer(user_id_dtype, self.user_vocabulary, "user_index")
        self.users = IdIndex(user_id, user_id_dtype, self.user_index)
        self.items = IdIndex(item_id, item_id_dtype, self.item_index)
        self.history_pairs = int(history_pairs)
        self.history_pool: HistoryPooling | None = None
        self.query_history: QueryHistory | None = None
        if c.history:
            lookup, embedding = self.candidate_tower.encoder.id_layers(item_id)
            self.history_pool = HistoryPooling(
                len(self.user_vocabulary) + 1, self.history_pairs, c.history_pooling, c.history_dropout,
                lookup, embedding,
                ratings=self.settled.examples == "users" and rating is not None and c.rating_weight > 0,
                name="history")
            self.query_history = QueryHistory(self.history_pool, self.users, item_id_dtype)
        self.linear: ItemToItem | None = None
        if self.settled.history_linear:
            self.linear = ItemToItem(int(self.history_input().pool.item_embedding.input_dim),
                                     solved=c.linear_solver == "closed_form", name="history_linear")
        if c.item_bias:
            self.retrieval_bias = tf.keras.layers.Embedding(len(self.item_vocabulary) + 1, 1,
                                                            embeddings_initializer="zeros", name="retrieval_bias")
        self.log_probabilities = tf.constant(
            np.log(np.concatenate([[min(self.item_probabilities or [1.0])], self.item_probabilities])),
            dtype=tf.float32)
        self.topk_index = tfrs.layers.factorized_top_k.BruteForce(k=c.top_k, name="topk_index")
        ks = sorted({k for k in (1, 5, 10, 50, 100) if k <= c.top_k} | {c.top_k})
        self.softmax_loss = softmax_loss()
        self.retrieval_task = tfrs.tasks.Retrieval(
            loss=self.softmax_loss, metrics=tfrs.metrics.FactorizedTopK(candidates=self.topk_index, ks=ks),
            temperature=c.temperature, num_hard_negatives=c.num_hard_negatives,
            remove_accidental_hits=c.masks_accidental_hits)
        self.in_batch = InBatchSoftmax(self.retrieval_task, c, self.item_index, item_id_dtype, self.log_probabilities)
        # The objectives: in-batch until set_training_catalog() gives the catalog.
        self.catalog: TrainingCatalog | None = None
        self.objective: RetrievalLoss = self.in_batch
        self.evaluation_objective: RetrievalLoss = self.in_batch
        # A rating head exists only when trained (ratings, rating_weight > 0); with rating_epochs
        # on rating towers of its own (a second phase).
        self.has_rating_head = rating is not None and c.rating_weight > 0
        self.rating_specs = [[FeatureSpec.coerce(s) for s in side] for side in rating_specs]
        self.rating_towers: RatingTowers | None = None
        # The fit running: "retrieval", "rating" (tfrec.model.training.rating_fit), None (every task).
        self.training_phase: str | None = None
        n_users, n_items = len(self.user_vocabulary) + 1, len(self.item_vocabulary) + 1
        head: RatingHead | None = None
        if uses_rating_towers(c, rating is not None):
            self.rating_towers = RatingTowers(c, self.rating_specs[0], self.rating_specs[1], n_users, n_items,
                                              self.global_mean, name="rating_towers")
        elif self.has_rating_head:
            head = self.rating_head = RatingHead(c, n_users, n_items, self.global_mean, name="rating_head")
        self.tower_scores = (TowerScores(n_users, n_items, c.embedding_dim, name="tower_scores")
                             if self.rating_towers is not None and c.rating_blend > 0 else None)
        self.ratings: RatingSide | None = None
        if self.has_rating_head:
            # Per-example losses, averaged over the global batch in compute_loss: correct under
            # a distribution strategy too (Keras losses with AUTO reduction are not).
            self.rating_task = tfrs.tasks.Ranking(
                loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.NONE),
                metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")])
            self.ratings = RatingSide(head, self.rating_towers, self.rating_task, self.users, self.items,
                                      c.embedding_dim)
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.retrieval_loss_tracker = tf.keras.metrics.Mean(name="retrieval_loss")

    # ------------------------------------------------------------------ inference primitives
    def history_input(self) -> QueryHistory:
        """The query's history input.

        Raises:
            ConfigError: The model has none (``history = false``).
        """
        if self.query_history is None:
            raise ConfigError("this model was trained without history = true")
        return self.query_history

    def item_positions(self, item_ids: tf.Tensor) -> tf.Tensor:
        """Index of each item id ``[batch]`` in the candidate tower's id embedding (the history's)."""
        return self.history_input().positions(item_ids)

    def query_embedding(self, features: dict[str, tf.Tensor], training: bool = False,
                        positives: tf.Tensor | None = None, with_linear: bool = True,
                        history: tuple[tf.RaggedTensor, tf.RaggedTensor] | None = None) -> tf.Tensor:
        """User/query embeddings ``[batch, embedding_dim (+ 1 with item_bias) (+ n_index with
        history_linear: the multi-hot history) (+ embedding_dim with rating_blend)]``.

        Args:
            features: ``{feature: Tensor[batch]}`` (plus the history inputs, see the class).
            training: Training mode (dropout, history dropout).
            positives: ``[batch]`` item index of each row's positive, removed from the row's
                stored history (training only).
            with_linear: Include the linear path's multi-hot history (``False``: the caller adds
                its scores apart, :meth:`ItemToItem.training_scores`; the width is ``n_index`` less).
            history: The ragged item indices and weights ``[batch, None]`` to pool, already
                dropped out (users' batches draw the dropout once, for the query and the loss),
                instead of the features' history.
        """
        extra, linear = None, None
        if self.linear is not None:  # one dropout draw for both (a solved matrix reads it all)
            source = self.history_input()
            items, weights = history if history is not None else source.items(features, training)
            extra = source.pool.pool(items, weights)
            if with_linear:  # else its whole-history lookup is not needed
                full = source.items(features) if training and self.linear.solved else (items, weights)
                linear = self.linear.query(*full)
        elif history is not None:
            extra = self.history_input().pool.pool(*history)
        elif self.query_history is not None:
            extra = self.query_history.vector(features, training, positives)
        query = self.query_tower(features, training=training, extra=extra)
        if self.model_config.item_bias:  # a constant 1 that meets the candidate's bias
            query = tf.concat([query, tf.ones_like(query[:, :1])], axis=-1)
        if linear is not None:
            query = tf.concat([query, linear], axis=-1)
        if self.tower_scores is not None:  # zeros until the rating phase fills them
            query = tf.concat([query, self.tower_scores.query(self.users.rows(features))], axis=-1)
        return query

    def candidate_embedding(self, features: dict[str, tf.Tensor], training: bool = False,
                            with_linear: bool = True) -> tf.Tensor:
        """Item/candidate embeddings ``[batch, embedding_dim (+ 1: the item's bias) (+ n_index:
        its row of the item-to-item matrix, unless not ``with_linear``) (+ embedding_dim: its
        rating-tower output)]``."""
        candidate = self.candidate_tower(features, training=training)
        if self.model_config.item_bias:
            candidate = tf.concat([candidate, self.retrieval_bias(self.items.rows(features))], axis=-1)
        if self.linear is not None and with_linear:
            rows = self.linear.candidate(self.item_positions(features[self.item_id]), seen=not training)
            candidate = tf.concat([candidate, rows], -1)
        if self.tower_scores is not None:
            candidate = tf.concat([candidate, self.tower_scores.candidate(self.items.rows(features))], axis=-1)
        return candidate

    def linear_columns(self) -> slice | None:
        """Where the linear path's ``n_index`` columns sit in the query and candidate embeddings
        (the multi-hot history; the rows of ``B``), or ``None`` without it: a caller may score
        them as a sparse product instead of the dense dot product's share."""
        if self.linear is None:
            return None
        start = self.model_config.embedding_dim + (1 if self.model_config.item_bias else 0)
        return slice(start, start + self.linear.n_index)

    def rating_side(self) -> RatingSide:
        """What rates pairs.

        Raises:
            ConfigError: The model has no rating head.
        """
        if self.ratings is None:
            raise ConfigError("this model has no rating head: it was trained without ratings or "
                              "with rating_weight = 0; train with rating_weight > 0 to predict ratings")
        return self.ratings

    def predict_rating(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Predicted ratings ``[batch]`` for (user, item) feature rows."""
        ratings = self.rating_side()
        if self.rating_towers is not None:
            return ratings.predict(features, None, None)
        return ratings.predict(features, self.query_embedding(features), self.candidate_embedding(features))

    def call(self, features: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        query = self.query_embedding(features, training)
        candidate = self.candidate_embedding(features, training)
        out = {"query_embedding": query, "candidate_embedding": candidate}
        if self.ratings is not None:
            out["rating"] = self.ratings.predict(features, query, candidate, training)
        return out

    # ------------------------------------------------------------------ catalog and inputs
    def set_training_catalog(self, columns: dict[str, np.ndarray]) -> None:
        """The catalog (``{column: array[n_items]}``) the ``full``, ``mixed`` and users'
        objectives draw from; needed before training with them (it builds the objective)."""
        self.catalog = TrainingCatalog(columns, self.item_id, self.item_id_dtype, self.item_index,
                                       self.history_pool.item_lookup if self.history_pool else None)
        self.objective = make_objective(self.model_config, self.settled, self.retrieval_task, self.in_batch,
                                        self.catalog, self.candidate_embedding, self.item_index,
                                        self.log_probabilities, self.softmax_loss)
        # Evaluation uses the training softmax too when it is exact (full), so that validation
        # and test losses are comparable with the training loss.
        if self.settled.negatives == "full":
            self.evaluation_objective = FullSoftmax(self.catalog, self.candidate_embedding,
                                                    self.model_config.temperature, self.softmax_loss)

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
        self.in_batch.index_ready = True
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

    @property
    def index_ready(self) -> bool:
        """Whether the top-k index holds the catalog (:meth:`index_candidates`): evaluation then
        computes the factorized top-k metrics (the in-batch objective's flag, the one place)."""
        return self.in_batch.index_ready

    def reset_compile_cache(self) -> None:
        """Forgets traced train/test functions (they captured whether the index was ready)."""
        self.test_function = self.predict_function = None

    def get_config(self) -> dict[str, Any]:
        return plain({
            "config": self.model_config.to_sections(),
            "query_specs": [s.to_dict() for s in self.query_specs],
            "candidate_specs": [s.to_dict() for s in self.candidate_specs], "user_id": self.user_id,
            "item_id": self.item_id, "user_id_dtype": self.user_id_dtype,
            "item_id_dtype": self.item_id_dtype, "user_vocabulary": self.user_vocabulary,
            "item_vocabulary": self.item_vocabulary, "item_probabilities": self.item_probabilities,
            "rating": self.rating, "weight": self.weight, "global_mean": self.global_mean,
            "history_pairs": self.history_pairs,
            "rating_specs": [[s.to_dict() for s in side] for side in self.rating_specs],
        })
