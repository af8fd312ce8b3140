"""The two-tower model: :class:`~tfrec.model.network.towers.TwoTowerNetwork` and how it
trains -- TFRS's ``compute_loss``, written by the model, over the retrieval objective built
once for the config (:mod:`tfrec.model.network.losses`) and the rating side's losses.

Interaction batches: the row's query (its history without the positive) against the
objective's candidates, plus the rating error. Users' batches (``examples = "users"``): each
user's query against the whole catalog, every stored item a target. The rating towers' phase
(``training_phase = "rating"``): their own loss, nothing else trains.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.network.losses import UserObjective
from tfrec.model.network.towers import TwoTowerNetwork


class TwoTowerModel(TwoTowerNetwork):
    """The two-tower network with its training losses (the constructor's arguments:
    :class:`~tfrec.model.network.towers.TwoTowerNetwork`)."""

    def compute_loss(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """The weighted task losses of one (per-replica) batch.

        The retrieval loss is a sum over the local batch and the rating loss an average over
        the global batch, so summing the replicas' gradients (what the optimizer does) gives
        the single-device gradient.
        """
        c = self.model_config
        sample_weight = inputs[self.weight] if self.weight else None
        if self.training_phase == "rating":
            return self.rating_side().towers_loss(inputs, self.rating_labels(inputs), sample_weight,
                                                  self.log_probabilities, c.rating_weight)
        if training and self.settled.examples == "users":  # a batch of users, not of interactions
            return self.users_loss(inputs)
        positives = self.item_positions(inputs[self.item_id]) if training and self.history_pool is not None else None
        query = self.query_embedding(inputs, training, positives)
        candidate = self.candidate_embedding(inputs, training)
        loss = tf.constant(0.0)
        if c.retrieval_weight > 0:
            if training and self.settled.negatives != "in_batch" and self.catalog is None:
                raise ConfigError(f"negatives = {self.settled.negatives!r} needs the catalog: call "
                                  "set_training_catalog() before fit (tfrec.model.training.fit.train does)")
            objective = self.objective if training else self.evaluation_objective
            retrieval = objective(query, candidate, inputs[self.item_id], sample_weight, training)
            if not training and objective is not self.in_batch and self.index_ready:  # the top-k metrics
                self.retrieval_task(query, candidate, candidate_ids=inputs[self.item_id],
                                    compute_metrics=True, compute_batch_metrics=False)
            rows = tf.cast(tf.shape(query)[0], tf.float32)
            self.retrieval_loss_tracker.update_state(retrieval / rows, sample_weight=rows)
            loss += c.retrieval_weight * retrieval
        if self.ratings is not None and self.rating is not None and (
                self.rating_towers is None or self.training_phase is None):  # else their own phase
            errors = self.ratings.errors(self.rating_labels(inputs),
                                         self.ratings.predict(inputs, query, candidate, training), sample_weight)
            loss += c.rating_weight * tf.nn.compute_average_loss(errors)
        return loss

    def users_loss(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The training loss of a batch of users (``examples = "users"``; ``inputs``: ``{user
        feature: Tensor[users]}``): ``retrieval_weight x`` the users' objective over the catalog
        (every stored item a target, weighted by its history weight), plus ``rating_weight x``
        the mean squared rating error over the same pairs (with a rating head), plus the linear
        path's L2 share (``history_linear`` learned by SGD).

        Raises:
            ConfigError: No catalog (:meth:`set_training_catalog`) or no history.
        """
        c, pool = self.model_config, self.history_pool
        if self.catalog is None or pool is None:
            raise ConfigError("examples = 'users' needs the history and the catalog: call set_training_catalog() first")
        users = self.users.rows(inputs)
        items, weights = pool.user_history(users)
        kept = pool.drop(weights)  # the denoising: one draw, for the query and the loss
        cells, target, valid = self.catalog.target_cells(items, weights)
        # A solved linear path adds its users' fixed scores apart (computed once, gathered per
        # batch), not through n_index-wide embeddings: the same scores, without an n x n
        # product per step.
        apart = self.linear is not None and self.linear.user_scores is not None
        query = self.query_embedding(inputs, training=True, with_linear=not apart, history=(items, kept))
        catalog = self.candidate_embedding(self.catalog.columns, training=True, with_linear=not apart)
        scores = tf.linalg.matmul(query, catalog, transpose_b=True)
        offset = None
        if self.linear is not None and apart:
            if self.catalog.history_index is None:
                raise ConfigError("the linear path needs the catalog's history index (history = true)")
            offset = tf.gather(self.linear.training_scores(users), self.catalog.history_index, axis=1)
        cell_weights = None
        kept_weight = self.settled.kept_item_weight
        if kept_weight != 1.0 and c.history_dropout > 0:  # the kept items weigh less (emphasized denoising)
            was_kept = tf.boolean_mask(kept.flat_values, valid) > 0
            cell_weights = tf.where(was_kept, kept_weight, 1.0)
        if not isinstance(self.objective, UserObjective):
            raise ConfigError("examples = 'users' trains a users' objective (user_loss)")
        retrieval = self.objective.scores_loss(scores, cells, target, offset, cell_weights)
        pairs = tf.cast(tf.shape(cells)[0], tf.float32)
        self.retrieval_loss_tracker.update_state(retrieval / tf.maximum(pairs, 1.0), sample_weight=pairs)
        loss = c.retrieval_weight * retrieval
        if self.linear is not None and not self.linear.solved:  # EASE's l2, this batch's share
            share = tf.cast(tf.size(users), tf.float32) / float(max(len(self.user_vocabulary), 1))
            loss += c.linear_l2 * share * self.linear.penalty()
        if self.ratings is not None and self.rating_towers is None:  # else trained in a phase of their own
            ratings = tf.boolean_mask(pool.user_ratings(users).flat_values, valid)
            dim = c.embedding_dim  # the towers' outputs, without the bias column
            # The rating head reads the whole stored history, without the denoising dropout
            # (with it, or without each rated item, RMSE on ml-100k u1 was worse or no better).
            full = self.query_embedding(inputs, training=False)
            user, row = cells[:, 0], cells[:, 1]
            predicted = self.ratings.head(tf.gather(full[:, :dim], user), tf.gather(catalog[:, :dim], row),
                                          tf.gather(users, user), tf.gather(self.catalog.positions, row),
                                          training=True)
            loss += c.rating_weight * tf.reduce_mean(self.ratings.errors(ratings, predicted))
        return loss

    def rating_labels(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The batch's ratings ``[batch]`` (float32)."""
        if self.rating is None:
            raise ConfigError("this model was trained without a rating column")
        return tf.cast(inputs[self.rating], tf.float32)

    def trained_variables(self) -> list[tf.Variable]:
        """The variables a training step updates (by phase: :meth:`RatingSide.trained_variables`)."""
        if self.ratings is None:
            return super().trained_variables()
        return self.ratings.trained_variables(self.trainable_variables, self.training_phase)

    def skipped_metrics(self, training: bool) -> set[str]:
        """Factorized top-k only in evaluation once the index is built; the retrieval loss only
        when the retrieval task runs; RMSE not while the rating towers wait for their phase."""
        skip = set()
        if training or not self.index_ready:
            skip |= {m.name for m in self.metrics if m.name.startswith("factorized_top_k")}
        if self.model_config.retrieval_weight == 0 or self.training_phase == "rating":
            skip.add("retrieval_loss")
        if self.rating_towers is not None and self.training_phase == "retrieval":  # not trained yet
            skip.add("rmse")
        return skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TwoTowerModel:
        return cls(**config)
