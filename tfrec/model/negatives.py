"""The retrieval losses: in-batch negatives, and negatives beyond the batch -- the whole catalog
(``full``) or uniform samples from it (``mixed``) -- all through TFRS's ``Retrieval`` task and
its loss; and the user-level loss.

* ``in_batch`` (:func:`in_batch_loss`) -- the other rows' items, logQ-corrected; under a
  multi-replica strategy the candidates of every replica (``cross_replica_negatives``).

* ``full`` -- each row's softmax runs over every catalog item: scores ``[batch, n_items]``
  against the candidate tower applied to the whole catalog, one-hot labels on the positive's
  catalog row, the retrieval task's own loss (summed over the batch, as in-batch training).
  Exact; its cost grows with the catalog (fine on CPU up to ~100k items).
* user-level (``examples = "users"``) -- one row per user: the query is the user's stored
  history (with history dropout), scored against every catalog item, and every stored item
  is a target, weighted by its history weight (the multinomial likelihood of Mult-DAE,
  Liang et al. 2018). The rating head, when trained, fits the stored ratings of the same
  pairs.
* ``mixed`` (Yi et al. 2020, "Mixed negative sampling") -- the in-batch candidates plus
  ``num_sampled`` catalog items drawn uniformly each step, with a logQ correction for each
  source: ``batch_size * p_i`` for in-batch item ``i`` (``p_i`` its training frequency) and
  ``num_sampled / n_items`` for uniform samples. Accidental hits (a negative that is the
  row's positive) are removed by id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from tfrec.model.distribute import gather_across_replicas
from tfrec.model.encoder import as_id_dtype, lookup_layer

if TYPE_CHECKING:  # annotations only: the model imports this module
    from tfrec.model.two_tower import TwoTowerModel


class CatalogNegatives:
    """The catalog a model draws ``full`` or ``mixed`` negatives from.

    Args:
        columns: ``{column: array[n_items]}``: item id and item features of every catalog item.
        item_id: Item id column.
        item_id_dtype: ``"int"`` or ``"string"``.
        item_index: The model's item vocabulary lookup (ids -> index; accidental-hit ids).
        history_lookup: The history's item lookup (ids -> the shared embedding's index), for
            user-level training; ``None`` without history.
    """

    def __init__(self, columns: dict[str, np.ndarray], item_id: str, item_id_dtype: str,
                 item_index: tf.keras.layers.Layer,
                 history_lookup: tf.keras.layers.Layer | None = None) -> None:
        ids = np.asarray(columns[item_id])
        self.n_items = len(ids)
        self.item_id, self.item_id_dtype = item_id, item_id_dtype
        self.columns = {k: tf.constant(np.asarray(v)) for k, v in columns.items()}
        self.rows = lookup_layer(item_id_dtype, list(ids), "catalog_rows")
        self.positions = item_index(as_id_dtype(self.columns[item_id], item_id_dtype))
        self.row_of_index: tf.Tensor | None = None
        if history_lookup is not None:
            # Catalog row of each history index (-1: not in the catalog, e.g. out of vocabulary).
            indices = tf.cast(history_lookup(as_id_dtype(self.columns[item_id], item_id_dtype)), tf.int64)
            size = int(tf.reduce_max(indices).numpy()) + 1 if self.n_items else 1
            self.row_of_index = tf.tensor_scatter_nd_update(
                tf.fill([size], tf.constant(-1, tf.int64)), indices[:, None],
                tf.range(self.n_items, dtype=tf.int64))

    def user_loss(self, model: TwoTowerModel, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The training loss of a batch of users (``examples = "users"``).

        Args:
            model: The model (history, towers, rating head, config).
            inputs: ``{user feature: Tensor[users]}``: the user ids and the query features.

        Returns:
            ``retrieval_weight x`` the summed negative log-likelihood of the users' stored
            items under their softmax over the catalog (``user_loss = "squared"``: the summed
            squared error of every catalog score against the stored items' weights, 0 for the
            other items), plus ``rating_weight x`` the mean squared rating error over the same
            pairs (with a rating head), plus the linear path's L2 share (``history_linear``).
        """
        config, pool = model.model_config, model.history_pool
        if pool is None or self.row_of_index is None:
            raise ValueError("user-level training needs the history and its catalog rows")
        users = model.user_rows(inputs)
        items, weights = pool.user_history(users)
        index = items.flat_values
        row = tf.gather(self.row_of_index, tf.minimum(index, tf.size(self.row_of_index, tf.int64) - 1))
        valid = (index > 0) & (index < tf.size(self.row_of_index, tf.int64)) & (row >= 0)
        pair_user = tf.boolean_mask(items.value_rowids(), valid)
        row, target = tf.boolean_mask(row, valid), tf.boolean_mask(weights.flat_values, valid)
        query = model.query_embedding(inputs, training=True)  # history dropout: the denoising
        catalog = model.candidate_embedding(self.columns, training=True)
        scores = tf.linalg.matmul(query, catalog, transpose_b=True)
        if config.temperature is not None:
            scores = scores / config.temperature
        cells = tf.stack([pair_user, row], axis=1)
        if config.user_loss == "squared":  # every catalog cell: the stored items' weights, else 0
            retrieval = tf.reduce_sum(tf.square(tf.scatter_nd(cells, target, tf.shape(scores, tf.int64)) - scores))
        else:
            retrieval = -tf.reduce_sum(target * tf.gather_nd(tf.nn.log_softmax(scores), cells))
        pairs = tf.cast(tf.size(row), tf.float32)
        model.retrieval_loss_tracker.update_state(retrieval / tf.maximum(pairs, 1.0), sample_weight=pairs)
        loss = config.retrieval_weight * retrieval
        if model.linear is not None and not model.linear.solved:  # EASE's l2, this batch's share
            share = tf.cast(tf.size(users), tf.float32) / float(max(len(model.user_vocabulary), 1))
            loss += config.linear_l2 * share * model.linear.penalty()
        if model.has_rating_head and model.rating_towers is None:  # else trained in a phase of their own
            ratings = tf.boolean_mask(pool.user_ratings(users).flat_values, valid)
            dim = config.embedding_dim  # the towers' outputs, without the bias column
            # The rating head reads the whole stored history, without the denoising dropout
            # (with it, or without each rated item, RMSE on ml-100k u1 was worse or no better).
            full = model.query_embedding(inputs, training=False)
            predicted = model.rating_head(tf.gather(full[:, :dim], pair_user), tf.gather(catalog[:, :dim], row),
                                          tf.gather(users, pair_user), tf.gather(self.positions, row),
                                          training=True)
            errors = model.rating_task(labels=ratings[:, None], predictions=predicted[:, None])
            loss += config.rating_weight * tf.reduce_mean(errors)
        return loss

    def loss(self, model: TwoTowerModel, query: tf.Tensor, candidate: tf.Tensor,
             item_ids: tf.Tensor, sample_weight: tf.Tensor | None, training: bool) -> tf.Tensor:
        """The retrieval loss of one batch with the model's ``negatives``.

        Args:
            model: The model (towers, retrieval task, config, item frequencies).
            query: Query embeddings ``[batch, dim]``.
            candidate: The batch's positive candidate embeddings ``[batch, dim]``.
            item_ids: The positives' item ids ``[batch]``.
            sample_weight: ``[batch]`` or ``None``.
            training: Training mode (dropout in the candidate tower).
        """
        config, task = model.model_config, model.retrieval_task
        ids = as_id_dtype(item_ids, self.item_id_dtype)
        if config.negatives == "full":
            catalog = model.candidate_embedding(self.columns, training)
            scores = tf.linalg.matmul(query, catalog, transpose_b=True)
            if config.temperature is not None:
                scores = scores / config.temperature
            labels = tf.one_hot(self.rows(ids) - 1, self.n_items)
            return task._loss(y_true=labels, y_pred=scores, sample_weight=sample_weight)
        rows = tf.random.uniform([config.num_sampled], 0, self.n_items, dtype=tf.int64)
        sampled = model.candidate_embedding({k: tf.gather(v, rows) for k, v in self.columns.items()},
                                            training)
        positions = model.item_index(ids)
        batch = tf.cast(tf.shape(candidate)[0], tf.float32)
        in_batch = batch * tf.exp(tf.gather(model._log_probabilities, positions))
        uniform = tf.fill([config.num_sampled], config.num_sampled / self.n_items)
        return task(query, tf.concat([candidate, sampled], axis=0), sample_weight=sample_weight,
                    candidate_sampling_probability=tf.concat([in_batch, uniform], axis=0),
                    candidate_ids=tf.concat([positions, tf.gather(self.positions, rows)], axis=0),
                    compute_metrics=False, compute_batch_metrics=False)


def in_batch_loss(model: TwoTowerModel, query: tf.Tensor, candidate: tf.Tensor, item_ids: tf.Tensor,
                  sample_weight: tf.Tensor | None, training: bool) -> tf.Tensor:
    """The in-batch softmax loss of one (per-replica) batch (evaluation: with the factorized
    top-k metrics once the model's index is built).

    Under a distribution strategy with several replicas, training gathers the candidate
    embeddings (with their item indices and sampling probabilities) of every replica, so each
    replica's softmax sees the negatives of the whole global batch -- the same softmax as one
    device with the same global batch. ``cross_replica_negatives = false`` keeps each
    replica's softmax local (TFRS's default behaviour, a different objective: TFRS issue #561).

    Args:
        model: The model (retrieval task, item index, frequencies, config).
        query: ``[batch, dim]``; candidate: the rows' items ``[batch, dim]``.
        item_ids: The rows' item ids ``[batch]``.
        sample_weight: ``[batch]`` or ``None``.
        training: Training (loss only) or evaluation (metrics too).
    """
    config = model.model_config
    ids = as_id_dtype(item_ids, model.item_id_dtype)
    context = tf.distribute.get_replica_context()
    gathered = (training and config.cross_replica_negatives and context is not None
                and context.num_replicas_in_sync > 1)
    # Item positions only when something reads them (one lookup less per step).
    accidental = training and config.masks_accidental_hits
    positions = model.item_index(ids) if config.logq_correction or gathered or accidental else None
    sampling = None
    if config.logq_correction:
        sampling = tf.exp(tf.gather(model._log_probabilities, positions))
    # Training compares ids through their vocabulary positions (integers: XLA and collectives
    # carry no strings); evaluation keeps the raw ids for its metrics.
    candidates, candidate_ids = candidate, positions if training else ids
    if gathered:
        candidates, candidate_ids, sampling = gather_across_replicas(context, candidate, positions, sampling)
    if training:
        return model._retrieval_loss(query, candidates, sample_weight, sampling, candidate_ids)
    return model.retrieval_task(query, candidates, sample_weight=sample_weight,
                                candidate_sampling_probability=sampling, candidate_ids=candidate_ids,
                                compute_metrics=model._index_ready, compute_batch_metrics=False)
