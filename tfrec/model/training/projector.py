"""Item embeddings for TensorBoard's embedding projector, labelled with titles."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

logger = logging.getLogger(__name__)

#: Item-table columns used as labels, first match wins (besides the item id).
LABEL_COLUMNS = ("title", "name", "category")


def write_projector(embeddings: np.ndarray, catalog: pd.DataFrame, item_id: str,
                    log_dir: str | os.PathLike) -> Path:
    """Writes item embeddings where TensorBoard's projector finds them.

    Files in ``log_dir``: ``item_embeddings.ckpt-1*`` and ``checkpoint`` (the ``[n_items, dim]`` matrix),
    ``item_metadata.tsv`` (one row per item: the id and, when the item table has one, its
    title) and ``projector_config.pbtxt``.

    Args:
        embeddings: ``[n_items, dim]``, rows in ``catalog`` order.
        catalog: The item table rows (at least the item id column).
        item_id: The item id column.
        log_dir: The TensorBoard log folder.

    Returns:
        The metadata file.
    """
    from tensorboard.plugins import projector

    if len(embeddings) != len(catalog):
        raise ValueError(f"{len(embeddings)} embeddings for {len(catalog)} catalog items")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    labels = [item_id] + [c for c in LABEL_COLUMNS if c in catalog.columns][:1]
    metadata = log_dir / "item_metadata.tsv"
    table = catalog[labels].astype(str).apply(lambda column: column.str.replace(r"[\t\n\r]", " ", regex=True))
    if len(labels) == 1:  # one column: no header line (the projector's format)
        metadata.write_text("".join(f"{v}\n" for v in table[item_id]), encoding="utf-8")
    else:
        table.to_csv(metadata, sep="\t", index=False, encoding="utf-8")
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(np.asarray(embeddings, np.float32)))
    checkpoint.save(str(log_dir / "item_embeddings.ckpt"))  # + the `checkpoint` file the projector reads
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = metadata.name
    projector.visualize_embeddings(str(log_dir), config)
    logger.info("wrote %d item embeddings for the TensorBoard projector to %s", len(catalog), log_dir)
    return metadata
