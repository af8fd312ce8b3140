"""LazyAdam: exactly Adam when every row is in the gradient; untouched rows stay put."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.optimizers import LazyAdam, make_optimizer


def run(optimizer, rows_per_step, steps=5):
    table = tf.Variable(np.arange(12, dtype=np.float32).reshape(6, 2) / 10)
    dense = tf.Variable(np.ones((2, 2), np.float32))
    for step in range(steps):
        with tf.GradientTape() as tape:
            picked = tf.gather(table, rows_per_step[step % len(rows_per_step)])
            loss = tf.reduce_sum(tf.square(picked @ dense - 1.0))
        grads = tape.gradient(loss, [table, dense])
        assert isinstance(grads[0], tf.IndexedSlices)
        optimizer.apply_gradients(zip(grads, [table, dense], strict=True))
    return table.numpy(), dense.numpy()


def test_lazy_adam_equals_adam_when_every_row_is_updated():
    every_row = [[0, 1, 2, 3, 4, 5, 2]]  # duplicates too: Keras merges them first
    lazy = run(LazyAdam(0.05), every_row)
    adam = run(tf.keras.optimizers.Adam(0.05), every_row)
    for a, b in zip(lazy, adam, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lazy_adam_leaves_rows_outside_the_batch_alone():
    alternating = [[0, 1], [2, 3]]
    start = np.arange(12, dtype=np.float32).reshape(6, 2) / 10
    lazy_table, _ = run(LazyAdam(0.05), alternating, steps=6)
    adam_table, _ = run(tf.keras.optimizers.Adam(0.05), alternating, steps=6)
    np.testing.assert_array_equal(lazy_table[4:], start[4:])  # never in a batch
    assert not np.allclose(lazy_table[:4], start[:4])
    # Adam keeps moving rows 0-1 on the steps they are absent (momentum decay); LazyAdam does not.
    assert not np.allclose(lazy_table[:2], adam_table[:2])


def test_optimizer_names():
    assert isinstance(make_optimizer(ModelConfig(optimizer="lazy_adam")), LazyAdam)
    with pytest.raises(ConfigError, match="lazy_adam"):
        ModelConfig(optimizer="sgd")
