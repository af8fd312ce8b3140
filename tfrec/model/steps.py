"""Keras train and test steps for the two-tower model: epoch means in the logs.

Keras logs whatever ``train_step`` returns; TFRS's step returns the last batch's loss, so its
"loss" jumps from batch to batch while the metrics are epoch means. These steps feed Mean
trackers instead: ``loss`` (the objective per batch, regularization included) and
``retrieval_loss`` (the softmax cross-entropy per example, updated by ``compute_loss``), the
same names in training and evaluation.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


class EpochMeanSteps:
    """Mixin for a ``tfrs.Model`` with ``loss_tracker``, ``retrieval_loss_tracker``,
    ``model_config`` and ``_index_ready`` attributes and a ``trained_variables()`` method (the
    variables a step updates; see :class:`TwoTowerModel`)."""

    loss_tracker: tf.keras.metrics.Mean
    model_config: Any
    training_phase: str | None
    rating_towers: Any
    _index_ready: bool

    def train_step(self: Any, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """TFRS's train step, with the regularization loss divided among the replicas (each
        replica adds it, and the optimizer sums the replicas' gradients), and epoch means in
        the logs."""
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization = self._regularization()
            total = loss + regularization
        variables = self.trained_variables()
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self.loss_tracker.update_state(total)
        return self._logs(training=True)

    def test_step(self: Any, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The training objective on held-out rows (epoch means), plus the factorized top-k
        metrics once the index is built."""
        self.loss_tracker.update_state(self.compute_loss(inputs, training=False) + self._regularization())
        return self._logs(training=False)

    def _regularization(self: Any) -> tf.Tensor:
        if not self.losses:
            return tf.constant(0.0)
        return tf.nn.scale_regularization_loss(tf.reduce_sum([tf.reduce_sum(x) for x in self.losses]))

    def _logs(self: Any, training: bool) -> dict[str, tf.Tensor]:
        """The metrics computed in this mode: factorized top-k only in evaluation once the
        index is built, the retrieval loss only when the retrieval task runs."""
        topk = self._index_ready and not training
        # The rating towers (tfrec.model.rating_fit) train in a phase of their own, without the
        # retrieval task: each phase logs its own task's metrics.
        phase = self.training_phase
        skip = {"retrieval_loss"} if self.model_config.retrieval_weight == 0 or phase == "rating" else set()
        if self.rating_towers is not None and phase == "retrieval":  # not trained yet
            skip.add("rmse")
        return {m.name: m.result() for m in self.metrics if m.name not in skip
                and (topk or not m.name.startswith("factorized_top_k"))}
