"""LazyAdam: exactly Adam when every row is in the gradient; untouched rows stay put. A training
phase compiles to one trace of its step."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig
from tfrec.model.training.optimizers import LazyAdam, compile_phase, make_optimizer


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


class Counting(tf.keras.Model):
    """A linear model whose train step counts its Python calls (each one a trace)."""

    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(1)
        self.dense.build((None, 2))
        self.step_traces = 0

    def trained_variables(self):
        return self.dense.trainable_variables

    def train_step(self, data):
        self.step_traces += 1
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.dense(x)[:, 0] - y))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trained_variables()),
                                           self.trained_variables(), strict=True))
        return {"loss": loss}


def fit(model, steps):
    x = np.random.default_rng(0).normal(size=(4 * steps, 2)).astype(np.float32)
    model.fit(tf.data.Dataset.from_tensor_slices((x, x.sum(1))).batch(4), epochs=2, verbose=0)
    return model.train_tf_function.experimental_get_tracing_count(), model.step_traces


@pytest.mark.parametrize("steps, per_call, step_traces", [(3, 1, 1), (8, 4, 2)])
def test_a_phase_is_traced_once(steps, per_call, step_traces):
    """compile_phase builds the optimizer first (one trace of the step function, not two) and
    runs several steps per call only when an epoch has more; the multi-step loop's body is
    traced twice by autograph, which is why one call of an epoch's few steps does not use it."""
    model = Counting()
    compile_phase(model, ModelConfig(steps_per_execution=4), steps_per_epoch=steps)
    assert int(model._steps_per_execution.numpy()) == per_call
    assert fit(model, steps) == (1, step_traces)
    plain = Counting()  # what Keras alone does: the optimizer's slots made in the first step
    plain.compile(optimizer=make_optimizer(ModelConfig()), steps_per_execution=per_call)
    assert fit(plain, steps) == (2, 2 * step_traces)
