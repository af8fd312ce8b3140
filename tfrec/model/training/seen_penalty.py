"""The seen penalty of a trained model's linear path (``seen_penalty``): after training, the
diagonal of the item-to-item matrix gets a negative value, so that each user's own history
items score below every other item in the model's one dot product (indexes, exports, metrics
that rank the whole catalog), while the ranking of the other items does not change. Training
always sees the zero diagonal (:mod:`tfrec.model.network.linear`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from tfrec.data.columns import side_columns
from tfrec.data.dataset import Dataset
from tfrec.model.network.tower import batched_apply
from tfrec.model.network.two_tower import TwoTowerModel

logger = logging.getLogger(__name__)

#: Users whose scores set a scale after training (the rating blend's, the seen penalty's): the
#: first of the vocabulary, all when fewer.
SAMPLE_USERS = 512
#: The seen penalty in units of the sampled score range (a user's own item ends at least this
#: range below the best score, so below every sampled score).
SEEN_MARGIN = 2.0



@contextmanager
def without_seen_penalty(model: TwoTowerModel) -> Iterator[None]:
    """The model's scores with a zero diagonal inside the block (the penalty restored after)."""
    linear = model.linear
    saved = float(linear.seen_score.numpy()) if linear is not None else 0.0
    if linear is not None:
        linear.seen_score.assign(0.0)
    try:
        yield
    finally:
        if linear is not None:
            linear.seen_score.assign(saved)


def sample_scores(model: TwoTowerModel, tables: Dataset, drop_last: int = 0) -> np.ndarray:
    """Retrieval scores ``[min(users, SAMPLE_USERS), n_items]`` of the first vocabulary users
    against every vocabulary item, without the seen penalty.

    Args:
        model: A trained model.
        tables: The training data's user and item tables (the towers' features).
        drop_last: Embedding columns left out at the end of both sides (the stored rating-tower
            scores, when their own scale is being set).
    """
    users = side_columns(tables, "user", np.asarray(model.user_vocabulary[:SAMPLE_USERS]), missing="default")
    items = side_columns(tables, "item", np.asarray(model.item_vocabulary), missing="default")
    width = slice(None, -drop_last if drop_last else None)
    with without_seen_penalty(model):
        return (batched_apply(model.query_embedding, users)[:, width]
                @ batched_apply(model.candidate_embedding, items)[:, width].T)


def demote_seen(model: TwoTowerModel, tables: Dataset) -> None:
    """Sets the diagonal of a trained model's linear path (``seen_penalty``) so that a user's own
    history items score below the other items: minus :data:`SEEN_MARGIN` x the range of
    :func:`sample_scores`, divided by the smallest stored history weight (a history item's
    penalty is its weight x the diagonal). Nothing without the linear path or with
    ``seen_penalty = false``.
    """
    linear, pool = model.linear, model.history_pool
    if linear is None or pool is None or not model.model_config.seen_penalty:
        return
    scores = sample_scores(model, tables)
    weights = pool.weights_.numpy()
    least = float(weights[weights > 0].min()) if (weights > 0).any() else 1.0
    penalty = SEEN_MARGIN * float(scores.max() - scores.min()) / max(least, 1e-3)
    linear.seen_score.assign(-penalty)
    logger.info("seen_penalty: a user's own history items score %.4g lower (times their weight)", penalty)
