"""Negatives beyond the batch: the whole catalog (``full``) or uniform samples from it
(``mixed``), both through TFRS's ``Retrieval`` task and its loss.

* ``full`` -- each row's softmax runs over every catalog item: scores ``[batch, n_items]``
  against the candidate tower applied to the whole catalog, one-hot labels on the positive's
  catalog row, the retrieval task's own loss (summed over the batch, as in-batch training).
  Exact; its cost grows with the catalog (fine on CPU up to ~100k items).
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
    """

    def __init__(self, columns: dict[str, np.ndarray], item_id: str, item_id_dtype: str,
                 item_index: tf.keras.layers.Layer) -> None:
        ids = np.asarray(columns[item_id])
        self.n_items = len(ids)
        self.item_id, self.item_id_dtype = item_id, item_id_dtype
        self.columns = {k: tf.constant(np.asarray(v)) for k, v in columns.items()}
        self.rows = lookup_layer(item_id_dtype, list(ids), "catalog_rows")
        self.positions = item_index(as_id_dtype(self.columns[item_id], item_id_dtype))

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
