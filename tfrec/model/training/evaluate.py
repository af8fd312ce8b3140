"""Keras evaluation of a two-tower model on any batch source: factorized top-k and RMSE."""

from __future__ import annotations

import pandas as pd
import tensorflow as tf

from tfrec.data.columns import catalog_columns
from tfrec.data.sources import BatchSource
from tfrec.model.network.two_tower import TwoTowerModel


def evaluate(model: TwoTowerModel, source: BatchSource, *, catalog: pd.DataFrame | None = None,
             batch_size: int = 8192) -> dict[str, float]:
    """Factorized top-k accuracy over the whole catalog and RMSE on ``source``'s rows (invalid
    streamed rows are left out, as in training).

    Args:
        model: A trained (or freshly built) model.
        source: The evaluation rows.
        catalog: Items to rank (default: the source's catalog, else the model's item vocabulary).
        batch_size: Rows per evaluation batch.
    """
    catalog = catalog if catalog is not None else source.catalog(model.item_vocabulary)
    model.index_candidates(catalog_columns(source.tables, catalog))
    data = source.batches(batch_size, shuffle=False)
    if model.optimizer is None or data.cardinality() == tf.data.UNKNOWN_CARDINALITY:
        # A freshly built or loaded model; or streamed rows, over which Keras cannot run the
        # several steps per execution training compiled: one step at a time (same optimizer).
        model.compile(**({} if model.optimizer is None else {"optimizer": model.optimizer}))
    return {k: float(v) for k, v in model.evaluate(data, return_dict=True, verbose=0).items()}
