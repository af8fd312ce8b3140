"""Distribution strategies for training: TensorFlow's own ``tf.distribute`` engine.

``default`` trains on one device; ``mirrored`` replicates the model on every local GPU (or on
``logical_cpus`` logical CPU devices, which is how tests exercise it without GPUs);
``multiworker`` runs ``MultiWorkerMirroredStrategy`` over the cluster that the ``TF_CONFIG``
environment variable describes (one process per worker, the same command on every worker).

The global batch (``ModelConfig.batch_size``) is split evenly across replicas; the in-batch
softmax still sees the whole global batch because the model gathers candidates across
replicas (see :meth:`tfrec.model.network.two_tower.TwoTowerModel.compute_loss`).
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from tfrec.errors import ConfigError

logger = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


def split_cpu(logical_cpus: int) -> None:
    """Splits the host CPU into ``logical_cpus`` logical devices (before TF initializes).

    Raises:
        ConfigError: TensorFlow already initialized its devices in this process.
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(logical_cpus)])
    except RuntimeError as exc:
        raise ConfigError(
            f"cannot split the CPU into {logical_cpus} logical devices: TensorFlow is already "
            f"initialized in this process ({exc}); choose the strategy before any TF work"
        ) from None


def make_strategy(name: str = "default", *, logical_cpus: int | None = None) -> tf.distribute.Strategy:
    """Creates a distribution strategy; call it before any other TensorFlow work.

    Args:
        name: ``default``, ``mirrored`` or ``multiworker``.
        logical_cpus: With ``mirrored`` and no GPU: mirror over this many logical CPU devices.

    Raises:
        ConfigError: Unknown name, or ``multiworker`` without a valid ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"strategy {name!r} unknown; use one of {list(STRATEGIES)}")
    if logical_cpus is not None and logical_cpus > 1:
        if name == "default":
            raise ConfigError("logical_cpus needs --strategy mirrored or multiworker")
        split_cpu(logical_cpus)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = None
        if not tf.config.list_physical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        _check_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logger.info("strategy %s: %d replica(s) in sync", name, strategy.num_replicas_in_sync)
    return strategy


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not raw:
        raise ConfigError(f"--strategy multiworker needs TF_CONFIG on every worker, e.g. {example}")
    invalid = ConfigError(f"TF_CONFIG is not a valid cluster description: {raw!r}; "
                          f"expected e.g. {example}")
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        valid = (task["type"] in ("worker", "chief") and isinstance(task["index"], int)
                 and isinstance(workers, list) and bool(workers))
    except (ValueError, KeyError, TypeError):
        raise invalid from None
    if not valid:  # an explicit check, not an assert: `python -O` must not skip it
        raise invalid


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints and outputs (always, outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` is a real strategy rather than the default (one device)."""
    return strategy is not tf.distribute.get_strategy()


def replicas(strategy: tf.distribute.Strategy | None) -> int:
    """Replicas in sync (1 without a strategy)."""
    return 1 if strategy is None else strategy.num_replicas_in_sync


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """The global batch must split evenly across replicas.

    Raises:
        ConfigError: It does not; the message names a batch size that does.
    """
    n = strategy.num_replicas_in_sync
    if batch_size % n:
        raise ConfigError(f"batch_size {batch_size} does not split evenly over {n} replicas; "
                          f"use a multiple of {n}, e.g. {max(n, batch_size // n * n)}")
