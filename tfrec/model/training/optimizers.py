"""Optimizers: Keras's Adagrad/Adam/AdamW and a lazy Adam for large embedding tables, and the
compile step of each training phase."""

from __future__ import annotations

import tensorflow as tf

from tfrec.model.config import ModelConfig
from tfrec.model.network.steps import EpochMeanModel


class LazyAdam(tf.keras.optimizers.Adam):
    """Adam that updates only the embedding rows a batch touches.

    Keras's Adam decays the first and second moments of **every** row of an embedding table
    on every step, even for a sparse gradient, so a step costs ``O(vocabulary x dim)``: with
    millions of ids that, not the batch, is the training time. LazyAdam applies the Adam
    update to the rows in the gradient only (``O(batch x dim)``); rows absent from a batch keep
    their moments and weights. Dense gradients get the ordinary Adam update. With every row
    in every batch it is exactly Adam.

    Args:
        learning_rate: Step size.
        beta_1: First-moment decay.
        beta_2: Second-moment decay.
        epsilon: Denominator floor.
        **kwargs: Other ``tf.keras.optimizers.Adam`` options (``amsgrad`` is not supported).
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "LazyAdam", **kwargs) -> None:
        if kwargs.get("amsgrad"):
            raise ValueError("LazyAdam does not support amsgrad; use optimizer = 'adam'")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, name=name, **kwargs)

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = tf.cast(self.learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (
            1 - tf.pow(beta_1, step))
        key = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[key], self._velocities[key]
        rows = gradient.indices  # unique: Keras deduplicates sparse gradients first
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * gradient.values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(gradient.values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))


def make_optimizer(config: ModelConfig) -> tf.keras.optimizers.Optimizer:
    """The optimizer ``config.optimizer`` names, at ``config.learning_rate``."""
    if config.optimizer == "adagrad":
        return tf.keras.optimizers.Adagrad(config.learning_rate)
    if config.optimizer == "adam":
        return tf.keras.optimizers.Adam(config.learning_rate)
    if config.optimizer == "lazy_adam":
        return LazyAdam(config.learning_rate)
    return tf.keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay)


def compile_phase(model: EpochMeanModel, config: ModelConfig, steps_per_epoch: int, learning_rate: float | None = None,
                  distributed: bool = False) -> None:
    """Compiles ``model`` for one training phase with a fresh optimizer (at ``learning_rate``,
    default ``config.learning_rate``) whose variables exist before the first step.

    Two of Keras's tracing costs are avoided (each a full trace of the training step, seconds
    on any data size): an optimizer that creates its slots in the first step makes TensorFlow
    trace the step function twice; several steps per call run in a loop whose body autograph
    traces once more to find its outputs, so the loop is used only when an epoch has more steps
    than one call runs. Under a strategy one step per call (the cross-replica collectives fail
    inside the loop). Neither changes the numbers a fit gives.

    Args:
        model: A built model with a ``trained_variables()`` method (the phase's variables).
        config: ``optimizer``, ``learning_rate``, ``weight_decay`` and ``steps_per_execution``.
        steps_per_epoch: Training steps of one epoch of this phase (its dataset's cardinality).
        learning_rate: The phase's step size, if not ``config.learning_rate``.
        distributed: Training under a multi-replica strategy (call inside its scope).
    """
    several = not distributed and steps_per_epoch > config.steps_per_execution
    optimizer = make_optimizer(config if learning_rate is None else config.replace(learning_rate=learning_rate))
    # XLA cannot compile the lookup tables: the model compiles its dense parts itself.
    model.compile(optimizer=optimizer, jit_compile=False,
                  steps_per_execution=config.steps_per_execution if several else 1)
    optimizer.build(model.trained_variables())
