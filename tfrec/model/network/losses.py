"""The retrieval objectives, each a class built once and called with tensors (TFRS's style:
``tasks/retrieval.py``), never with the model: ``objective(query, candidates, ids,
sample_weight, training)`` returns the batch's loss, a sum over its rows.

* :class:`InBatchSoftmax` (``negatives = "in_batch"``) -- the other rows' items, logQ-corrected;
  under a multi-replica strategy the candidates of every replica (``cross_replica_negatives``).
* :class:`FullSoftmax` (``full``) -- each row's softmax runs over every catalog item: scores
  ``[batch, n_items]`` against the candidate tower applied to the whole catalog, one-hot labels
  on the positive's catalog row, summed over the batch as in-batch training is. Exact; its cost
  grows with the catalog (fine on CPU up to ~100k items).
* :class:`MixedSoftmax` (``mixed``; Yi et al. 2020, "Mixed negative sampling") -- the in-batch
  candidates plus ``num_sampled`` catalog items drawn uniformly each step, with a logQ
  correction for each source: ``batch_size * p_i`` for in-batch item ``i`` (``p_i`` its training
  frequency) and ``num_sampled / n_items`` for uniform samples. Accidental hits (a negative that
  is the row's positive) are removed by id.
* :class:`UserMultinomial` and :class:`UserSquared` (``examples = "users"``) -- one row per user
  scored against every catalog item, every stored item a target weighted by its history weight:
  the multinomial likelihood of Mult-DAE (Liang et al. 2018), or the squared error of every
  catalog cell (Steck 2020).

:func:`make_objective` picks the class for a config once; a new objective is one class here and
one config value there.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.features.encoder import as_id_dtype, lookup_layer
from tfrec.model.network.replicas import gather_across_replicas
from tfrec.model.settled import Settled

#: The candidate tower applied to feature columns: ``embed(features, training) -> [n, dim]``.
Embed = Callable[[dict[str, tf.Tensor], bool], tf.Tensor]


def softmax_loss() -> tf.keras.losses.Loss:
    """The retrieval cross-entropy: TFRS's default loss of ``Retrieval`` (from logits, summed
    over the batch), built here so that the full softmax uses the same object."""
    return tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM)


class TrainingCatalog:
    """The catalog a model draws ``full``, ``mixed`` or users' targets from.

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
        #: ``[n_items]`` the history index of each catalog row (``None`` without history).
        self.history_index: tf.Tensor | None = None
        if history_lookup is not None:
            # Catalog row of each history index (-1: not in the catalog, e.g. out of vocabulary).
            indices = tf.cast(history_lookup(as_id_dtype(self.columns[item_id], item_id_dtype)), tf.int64)
            self.history_index = indices
            size = int(tf.reduce_max(indices).numpy()) + 1 if self.n_items else 1
            self.row_of_index = tf.tensor_scatter_nd_update(
                tf.fill([size], tf.constant(-1, tf.int64)), indices[:, None],
                tf.range(self.n_items, dtype=tf.int64))

    def target_cells(self, items: tf.RaggedTensor,
                     weights: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The users' stored items as catalog cells.

        Args:
            items: ``[users, None]`` history indices of each user's stored items.
            weights: ``[users, None]`` their weights.

        Returns:
            ``cells [pairs, 2]`` (user row in the batch, catalog row) of the stored items that are
            in the catalog, their weights ``[pairs]``, and which flat history entries they are
            (``[stored]`` bool).

        Raises:
            ConfigError: The catalog was built without the history's lookup.
        """
        if self.row_of_index is None:
            raise ConfigError("user-level training needs the history's catalog rows (history = true)")
        index = items.flat_values
        size = tf.size(self.row_of_index, tf.int64)
        row = tf.gather(self.row_of_index, tf.minimum(index, size - 1))
        valid = (index > 0) & (index < size) & (row >= 0)
        cells = tf.stack([tf.boolean_mask(items.value_rowids(), valid), tf.boolean_mask(row, valid)], axis=1)
        return cells, tf.boolean_mask(weights.flat_values, valid), valid


class RetrievalLoss(abc.ABC):
    """A retrieval objective: ``loss(query, candidates, ids, sample_weight, training)``."""

    @abc.abstractmethod
    def __call__(self, query: tf.Tensor, candidates: tf.Tensor, ids: tf.Tensor,
                 sample_weight: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        """The batch's loss (a sum over its rows).

        Args:
            query: ``[batch, dim]`` query embeddings.
            candidates: ``[batch, dim]`` the rows' positive candidate embeddings (users'
                objectives: ``[n_items, dim]``, the whole catalog).
            ids: ``[batch]`` the positives' item ids (users' objectives: the target cells
                ``[pairs, 2]`` of :meth:`TrainingCatalog.target_cells`).
            sample_weight: ``[batch]`` (users' objectives: ``[pairs]``, the targets' weights) or
                ``None``.
            training: Training mode (dropout in the candidate tower; evaluation's metrics).
        """


class InBatchSoftmax(RetrievalLoss):
    """The in-batch softmax (evaluation: with the factorized top-k metrics once
    :attr:`index_ready`).

    Under a distribution strategy with several replicas, training gathers the candidate
    embeddings (with their item indices and sampling probabilities) of every replica, so each
    replica's softmax sees the negatives of the whole global batch -- the same softmax as one
    device with the same global batch. ``cross_replica_negatives = false`` keeps each
    replica's softmax local (TFRS's default behaviour, a different objective: TFRS issue #561).

    Args:
        task: The model's retrieval task (temperature, hard negatives, hit removal, metrics).
        config: ``logq_correction``, ``cross_replica_negatives``, the hit masking and
            ``jit_compile`` are read.
        item_index: Item id -> vocabulary index lookup.
        item_id_dtype: ``"int"`` or ``"string"``.
        log_probabilities: ``[n_items + 1]`` log training frequency of each vocabulary index.
    """

    def __init__(self, task: tfrs.tasks.Retrieval, config: ModelConfig, item_index: tf.keras.layers.Layer,
                 item_id_dtype: str, log_probabilities: tf.Tensor) -> None:
        self.task, self.item_index, self.item_id_dtype = task, item_index, item_id_dtype
        self.log_probabilities = log_probabilities
        self.logq, self.cross_replica = config.logq_correction, config.cross_replica_negatives
        self.masks_hits = config.masks_accidental_hits
        self.index_ready = False  # the model sets it once its top-k index is built
        self._softmax = tf.function(self._softmax_fn, jit_compile=True) if config.jit_compile else self._softmax_fn

    def __call__(self, query: tf.Tensor, candidates: tf.Tensor, ids: tf.Tensor,
                 sample_weight: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        ids = as_id_dtype(ids, self.item_id_dtype)
        context = tf.distribute.get_replica_context()
        gathered = training and self.cross_replica and context is not None and context.num_replicas_in_sync > 1
        # Item positions only when something reads them (one lookup less per step).
        accidental = training and self.masks_hits
        positions = self.item_index(ids) if self.logq or gathered or accidental else None
        sampling = tf.exp(tf.gather(self.log_probabilities, positions)) if self.logq else None
        # Training compares ids through their vocabulary positions (integers: XLA and collectives
        # carry no strings); evaluation keeps the raw ids for its metrics.
        candidate_ids = positions if training else ids
        if gathered:
            candidates, candidate_ids, sampling = gather_across_replicas(context, candidates, positions, sampling)
        if training:
            return self._softmax(query, candidates, sample_weight, sampling, candidate_ids)
        return self.task(query, candidates, sample_weight=sample_weight, candidate_sampling_probability=sampling,
                         candidate_ids=candidate_ids, compute_metrics=self.index_ready, compute_batch_metrics=False)

    def _softmax_fn(self, query: tf.Tensor, candidates: tf.Tensor, sample_weight: tf.Tensor | None,
                    sampling: tf.Tensor | None, candidate_ids: tf.Tensor | None) -> tf.Tensor:
        """The in-batch softmax loss alone (no metrics), XLA-compiled with ``jit_compile``."""
        return self.task(query, candidates, sample_weight=sample_weight, candidate_sampling_probability=sampling,
                         candidate_ids=candidate_ids, compute_metrics=False, compute_batch_metrics=False)


class FullSoftmax(RetrievalLoss):
    """The softmax over the whole catalog (``candidates`` is not read: the catalog is embedded).

    Args:
        catalog: The training catalog.
        embed: The candidate tower.
        temperature: Divides the scores (``None``: 1).
        loss: The cross-entropy (:func:`softmax_loss`).
    """

    def __init__(self, catalog: TrainingCatalog, embed: Embed, temperature: float | None,
                 loss: tf.keras.losses.Loss) -> None:
        self.catalog, self.embed, self.temperature, self.loss = catalog, embed, temperature, loss

    def __call__(self, query: tf.Tensor, candidates: tf.Tensor, ids: tf.Tensor,
                 sample_weight: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        catalog = self.catalog
        scores = tf.linalg.matmul(query, self.embed(catalog.columns, training), transpose_b=True)
        if self.temperature is not None:
            scores = scores / self.temperature
        labels = tf.one_hot(catalog.rows(as_id_dtype(ids, catalog.item_id_dtype)) - 1, catalog.n_items)
        return self.loss(y_true=labels, y_pred=scores, sample_weight=sample_weight)


class MixedSoftmax(RetrievalLoss):
    """In-batch candidates plus ``num_sampled`` uniform catalog items, each logQ-corrected.

    Args:
        task: The model's retrieval task.
        catalog: The training catalog.
        embed: The candidate tower.
        item_index: Item id -> vocabulary index lookup.
        log_probabilities: ``[n_items + 1]`` log training frequency of each vocabulary index.
        num_sampled: Uniform negatives per batch.
    """

    def __init__(self, task: tfrs.tasks.Retrieval, catalog: TrainingCatalog, embed: Embed,
                 item_index: tf.keras.layers.Layer, log_probabilities: tf.Tensor, num_sampled: int) -> None:
        self.task, self.catalog, self.embed, self.item_index = task, catalog, embed, item_index
        self.log_probabilities, self.num_sampled = log_probabilities, num_sampled

    def __call__(self, query: tf.Tensor, candidates: tf.Tensor, ids: tf.Tensor,
                 sample_weight: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        catalog, n = self.catalog, self.num_sampled
        rows = tf.random.uniform([n], 0, catalog.n_items, dtype=tf.int64)
        sampled = self.embed({k: tf.gather(v, rows) for k, v in catalog.columns.items()}, training)
        positions = self.item_index(as_id_dtype(ids, catalog.item_id_dtype))
        batch = tf.cast(tf.shape(candidates)[0], tf.float32)
        in_batch = batch * tf.exp(tf.gather(self.log_probabilities, positions))
        uniform = tf.fill([n], n / catalog.n_items)
        return self.task(query, tf.concat([candidates, sampled], axis=0), sample_weight=sample_weight,
                         candidate_sampling_probability=tf.concat([in_batch, uniform], axis=0),
                         candidate_ids=tf.concat([positions, tf.gather(catalog.positions, rows)], axis=0),
                         compute_metrics=False, compute_batch_metrics=False)


class UserObjective(RetrievalLoss):
    """Users scored against the whole catalog; ``ids`` are target cells ``[pairs, 2]`` and
    ``sample_weight`` their weights ``[pairs]``.

    Args:
        temperature: Divides the scores (``None``: 1).
    """

    def __init__(self, temperature: float | None) -> None:
        self.temperature = temperature

    def __call__(self, query: tf.Tensor, candidates: tf.Tensor, ids: tf.Tensor,
                 sample_weight: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        return self.scores_loss(tf.linalg.matmul(query, candidates, transpose_b=True), ids, sample_weight)

    def scores_loss(self, scores: tf.Tensor, cells: tf.Tensor, target: tf.Tensor | None = None,
                    offset: tf.Tensor | None = None, cell_weights: tf.Tensor | None = None) -> tf.Tensor:
        """The loss of ``scores [users, n_items]`` (plus ``offset``, then divided by the
        temperature) against the target ``cells [pairs, 2]`` valued ``target [pairs]`` (default
        1), each target cell's term weighted ``cell_weights [pairs]`` (default 1)."""
        if offset is not None:
            scores += offset
        if self.temperature is not None:
            scores = scores / self.temperature
        target = target if target is not None else tf.ones(tf.shape(cells)[:1])
        return self.cells_loss(scores, cells, target, cell_weights)

    @abc.abstractmethod
    def cells_loss(self, scores: tf.Tensor, cells: tf.Tensor, target: tf.Tensor,
                   cell_weights: tf.Tensor | None = None) -> tf.Tensor:
        """The loss of ``scores [users, n_items]`` against the target ``cells [pairs, 2]``
        valued ``target [pairs]``, each target cell's term weighted ``cell_weights [pairs]``
        (``None``: 1; the other cells always count 1)."""


class UserMultinomial(UserObjective):
    """The summed negative log-likelihood of the users' stored items under their softmax over
    the catalog (Mult-DAE)."""

    def cells_loss(self, scores: tf.Tensor, cells: tf.Tensor, target: tf.Tensor,
                   cell_weights: tf.Tensor | None = None) -> tf.Tensor:
        if cell_weights is not None:
            target = target * cell_weights
        return -tf.reduce_sum(target * tf.gather_nd(tf.nn.log_softmax(scores), cells))


class UserSquared(UserObjective):
    """The summed squared error of every catalog score against the stored items' weights (0 for
    the other items)."""

    def cells_loss(self, scores: tf.Tensor, cells: tf.Tensor, target: tf.Tensor,
                   cell_weights: tf.Tensor | None = None) -> tf.Tensor:
        shape = tf.shape(scores, tf.int64)
        errors = tf.square(tf.scatter_nd(cells, target, shape) - scores)
        if cell_weights is not None:  # the target cells' weights; every other cell counts 1
            errors *= 1.0 + tf.scatter_nd(cells, cell_weights - 1.0, shape)
        return tf.reduce_sum(errors)


def make_objective(config: ModelConfig, settled: Settled, task: tfrs.tasks.Retrieval, in_batch: InBatchSoftmax,
                   catalog: TrainingCatalog, embed: Embed, item_index: tf.keras.layers.Layer,
                   log_probabilities: tf.Tensor, loss: tf.keras.losses.Loss) -> RetrievalLoss:
    """The training objective of a config and its settled choices (examples, negatives,
    user_loss), built once."""
    if settled.examples == "users":
        users = UserSquared if settled.user_loss == "squared" else UserMultinomial
        return users(config.temperature)
    if settled.negatives == "full":
        return FullSoftmax(catalog, embed, config.temperature, loss)
    if settled.negatives == "mixed":
        return MixedSoftmax(task, catalog, embed, item_index, log_probabilities, config.num_sampled)
    return in_batch
