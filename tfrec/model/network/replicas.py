"""The in-batch softmax's candidates under a multi-replica strategy: every replica's rows, this
replica's first (:class:`~tfrec.model.network.losses.InBatchSoftmax` with
``cross_replica_negatives``)."""

from __future__ import annotations

import tensorflow as tf


def gather_across_replicas(context: tf.distribute.ReplicaContext, candidates: tf.Tensor, positions: tf.Tensor,
                           sampling: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
    """All-gathers in-batch candidates over replicas, this replica's rows first.

    Args:
        context: The replica context.
        candidates: ``[local_batch, dim]`` candidate embeddings.
        positions: ``[local_batch]`` item vocabulary positions (int64).
        sampling: ``[local_batch]`` sampling probabilities, or ``None``.

    Returns:
        ``(candidates [global_batch, dim], positions [global_batch], sampling [global_batch] or
        None)``, rotated so that this replica's rows come first: TFRS's retrieval task takes
        row ``i`` of the candidates as the positive of query ``i`` and the rest as negatives.
        Gradients flow back to the replica that produced each row.
    """
    values = [candidates, positions] + ([sampling] if sampling is not None else [])
    gathered = [context.all_gather(v, axis=0) for v in values]
    shift = -tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.shape(candidates)[0]
    rotated = [tf.roll(g, shift=shift, axis=0) for g in gathered]
    return rotated[0], rotated[1], rotated[2] if sampling is not None else None
