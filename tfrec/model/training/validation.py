"""Validation by ranking: nDCG@k of the validation rows over the whole catalog, each epoch.

The same protocol and metric code as the evaluation harness (:mod:`tfrec.metrics`): every
catalog item is scored for each validation user, the user's training items are left out,
and the validation items are the relevant ones. The value is logged as ``val_ndcg@k`` so that
early stopping and checkpoints can monitor it (higher is better) and the history shows it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.columns import side_columns
from tfrec.data.dataset import Dataset
from tfrec.metrics import per_user_ranking_metrics
from tfrec.model.network.tower import batched_apply

logger = logging.getLogger(__name__)


def _rows(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each of ``values`` in ``keys`` (-1 when absent), by string form."""
    index = pd.Index(pd.Series(keys).astype(str))
    return index.get_indexer(pd.Series(values).astype(str))


class RankingValidation(tf.keras.callbacks.Callback):
    """Logs ``val_ndcg@k`` after each epoch.

    Args:
        tables: Schema and feature tables (the users' query features).
        catalog: ``{column: array[n_items]}`` of every catalog item (item id and features).
        train_pairs: Distinct training ``[user_id, item_id]`` rows (left out of the ranking).
        validation_pairs: Validation ``[user_id, item_id]`` rows (the relevant items).
        k: Cut-off.
        block: Users scored per block (bounds memory at ``block x n_items`` scores).
    """

    def __init__(self, tables: Dataset, catalog: dict[str, np.ndarray], train_pairs: pd.DataFrame,
                 validation_pairs: pd.DataFrame, k: int = 10, block: int = 1024) -> None:
        super().__init__()
        schema = tables.schema
        self.k, self.block, self.catalog = int(k), int(block), catalog
        self.name = f"val_ndcg@{self.k}"
        item_ids = np.asarray(catalog[schema.item_id])
        self.users = np.asarray(pd.unique(validation_pairs[schema.user_id]))
        self.user_columns = side_columns(tables, "user", self.users, missing="default")
        user_rows = _rows(validation_pairs[schema.user_id].to_numpy(), self.users)
        item_rows = _rows(validation_pairs[schema.item_id].to_numpy(), item_ids)
        known = item_rows >= 0  # validation items outside the catalog cannot be ranked: count as misses
        self.relevant_users, self.relevant_items = user_rows, np.where(known, item_rows, -1)
        seen_users = _rows(train_pairs[schema.user_id].to_numpy(), self.users)
        seen_items = _rows(train_pairs[schema.item_id].to_numpy(), item_ids)
        keep = (seen_users >= 0) & (seen_items >= 0)
        self.seen_users, self.seen_items = seen_users[keep], seen_items[keep]
        self.values: list[float] = []

    def score(self) -> float:
        """Mean nDCG@k of the validation users under the current weights."""
        model = self.model
        queries = batched_apply(model.query_embedding, self.user_columns)
        items = batched_apply(model.candidate_embedding, self.catalog)
        k = min(self.k, items.shape[0])
        top = np.empty((len(self.users), k), dtype=np.int64)
        for start in range(0, len(self.users), self.block):
            stop = min(start + self.block, len(self.users))
            scores = queries[start:stop] @ items.T
            in_block = (self.seen_users >= start) & (self.seen_users < stop)
            scores[self.seen_users[in_block] - start, self.seen_items[in_block]] = -np.inf
            best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
            top[start:stop] = np.take_along_axis(best, order, axis=1)
        per_user = per_user_ranking_metrics(top, self.relevant_users, self.relevant_items, k)
        return float(np.mean(per_user["ndcg"])) if len(per_user["ndcg"]) else 0.0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.score()
        self.values.append(value)
        if logs is not None:
            logs[self.name] = value
        logger.info("epoch %d: %s = %.4f", epoch + 1, self.name, value)
