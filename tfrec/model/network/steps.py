"""Keras train and test steps for the two-tower model: epoch means in the logs.

Keras logs whatever ``train_step`` returns; TFRS's step returns the last batch's loss, so its
"loss" jumps from batch to batch while the metrics are epoch means. These steps feed Mean
trackers instead: ``loss`` (the objective per batch, regularization included) and
``retrieval_loss`` (the softmax cross-entropy per example, updated by ``compute_loss``), the
same names in training and evaluation.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs


class EpochMeanModel(tfrs.Model):
    """A ``tfrs.Model`` whose Keras steps log epoch means.

    Subclasses write ``compute_loss`` (TFRS's contract) and may override
    :meth:`trained_variables` and :meth:`skipped_metrics`; they create both trackers and update
    :attr:`retrieval_loss_tracker` in ``compute_loss``.
    """

    #: Epoch means (Keras logs what train_step returns; a bare tensor would be the last batch's
    #: value): the objective per batch, and the retrieval cross-entropy per example, which
    #: training and evaluation report on the same scale. Created by the subclass.
    loss_tracker: tf.keras.metrics.Mean
    retrieval_loss_tracker: tf.keras.metrics.Mean

    def trained_variables(self) -> list[tf.Variable]:
        """The variables a training step updates (default: every trainable one)."""
        return list(self.trainable_variables)

    def skipped_metrics(self, training: bool) -> set[str]:
        """Names of the metrics not computed in this mode (default: none)."""
        return set()

    def train_step(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
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

    def test_step(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The training objective on held-out rows (epoch means), plus the metrics the model
        computes in evaluation."""
        self.loss_tracker.update_state(self.compute_loss(inputs, training=False) + self._regularization())
        return self._logs(training=False)

    def _regularization(self) -> tf.Tensor:
        if not self.losses:
            return tf.constant(0.0)
        return tf.nn.scale_regularization_loss(tf.reduce_sum([tf.reduce_sum(x) for x in self.losses]))

    def _logs(self, training: bool) -> dict[str, tf.Tensor]:
        skip = self.skipped_metrics(training)
        return {m.name: m.result() for m in self.metrics if m.name not in skip}
