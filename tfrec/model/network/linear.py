"""The full-rank item-to-item path of ``history_linear``: EASE's model inside the two towers.

EASE (Steck 2019) scores item ``j`` for a user with history ``h`` as ``sum_h B[j, h]``, with a
learned items x items matrix ``B`` whose diagonal is zero (an item never explains itself).
Written as a dot product it is two more tower outputs, so the model's scores, exports and
indexes need nothing new:

    query:      x_u = the user's multi-hot history (weights, dropout-masked in training)  [batch, n]
    candidate:  B[j, :] with B[j, j] = 0                                                    [batch, n]
    score:      x_u . B[j, :] = sum_h w_h B[j, h]

``n`` is the item index of the shared id embedding (vocabulary + out-of-vocabulary row 0).
``linear_solver = "closed_form"`` (the default) sets ``B`` once, before the towers train,
to the denoising linear autoencoder's optimum (:func:`tfrec.model.training.closed_form.dlae_weights`) and
keeps it fixed: the towers learn what it leaves. ``"sgd"`` learns ``B`` with the towers; the
diagonal is held at zero by the variable's constraint (the optimizer applies it after every
step), so a candidate's row is a plain gather: scoring the whole catalog in training holds a
few ``n x n`` arrays at once (B, the optimizer's two moments, the gathered rows and their
gradient), hence :data:`~tfrec.model.config_check.LINEAR_MAX_ITEMS`; solved, training adds the
matrix's fixed scores of each user apart, computed once (:meth:`ItemToItem.training_scores`), up to
:data:`~tfrec.model.config_check.SOLVED_LINEAR_MAX_ITEMS`.

The diagonal only ever scores a user's own items. After training, ``seen_penalty`` (default)
gives it a negative value (:func:`~tfrec.model.training.seen_penalty.demote_seen`): each user's
own history items then score below every other item in the model's own dot product -- in
indexes, exports, and metrics that rank the whole catalog (TFRS's factorized top-k) -- while
the ranking of the other items does not change. Training always sees the zero diagonal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tfrec.errors import ConfigError
from tfrec.model.config_check import linear_max_items


class ZeroDiagonal(tf.keras.constraints.Constraint):
    """Sets a square matrix's diagonal to zero."""

    def __call__(self, matrix: tf.Tensor) -> tf.Tensor:
        return tf.linalg.set_diag(matrix, tf.zeros_like(tf.linalg.diag_part(matrix)))


class ItemToItem(tf.keras.layers.Layer):
    """The items x items matrix of the linear path (starts at zero: the towers alone).

    Args:
        n_index: Rows of the item index (the shared item lookup's output range).
        solved: ``B`` is set by :meth:`set_matrix` and not trained (``linear_solver =
            "closed_form"``); its query then reads the whole history in training too.
    """

    def __init__(self, n_index: int, solved: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        limit = linear_max_items("closed_form" if solved else "sgd")
        if n_index - 1 > limit:
            raise ConfigError(f"history_linear keeps an items x items matrix: {n_index - 1:,} items "
                              f"is above its limit of {limit:,}"
                              f"{'' if solved else ' learned by sgd (linear_solver = closed_form takes more)'}"
                              "; set history_linear = false")
        self.n_index, self.solved = int(n_index), bool(solved)
        self.matrix = self.add_weight(name="matrix", shape=[self.n_index, self.n_index],
                                      initializer="zeros", constraint=ZeroDiagonal(), trainable=not solved)
        # What the diagonal scores after training (seen_penalty; 0 in training). A scalar of its
        # own: the matrix keeps its zero diagonal, and models saved before it load with 0.
        self.seen_score = self.add_weight(name="seen_score", shape=[], initializer="zeros", trainable=False)
        # Every training user's fixed scores x_u B^T (rows: user index), kept beside a solved
        # matrix while it trains (not saved): :meth:`training_scores` gathers a batch's rows.
        self.user_scores: tf.Tensor | None = None

    def query(self, items: tf.RaggedTensor, weights: tf.RaggedTensor) -> tf.Tensor:
        """Multi-hot histories ``[batch, n_index]`` from ragged item indices and weights
        ``[batch, None]`` (a repeated item sums its weights)."""
        rows = items.value_rowids()
        pairs = tf.stack([rows, tf.cast(items.flat_values, tf.int64)], axis=1)
        return tf.scatter_nd(pairs, weights.flat_values, tf.stack([items.nrows(), self.n_index]))

    def candidate(self, index: tf.Tensor, seen: bool = True) -> tf.Tensor:
        """Rows ``B[j, :]`` ``[batch, n_index]`` of item indices ``index [batch]``, their own
        entry (the diagonal) set to :attr:`seen_score` (0 with ``seen = false``: training, where
        it is 0 anyway, skips the copy of the rows that setting it takes)."""
        rows = tf.gather(self.matrix, index)
        if not seen:
            return rows
        own = tf.stack([tf.range(tf.shape(index, out_type=tf.int64)[0]), tf.cast(index, tf.int64)], axis=1)
        return tf.tensor_scatter_nd_add(rows, own, tf.fill(tf.shape(index), self.seen_score))

    def set_matrix(self, matrix: tf.Tensor | np.ndarray) -> None:
        """Assigns ``B`` ``[n_index, n_index]`` (row ``j``: item ``j``'s weights; diagonal set to 0)."""
        self.matrix.assign(ZeroDiagonal()(tf.convert_to_tensor(matrix, tf.float32)))

    def set_solution(self, by_history: np.ndarray, histories: sp.spmatrix) -> None:
        """Sets a solved ``B`` from its transpose ``[n_index, n_index]`` (row ``h``: history item
        ``h``'s weights for every item, as :func:`~tfrec.model.training.closed_form.dlae_weights`
        returns it; its diagonal is set to 0 in place), and keeps the training users' fixed scores
        ``histories @ by_history`` ``[n_users, n_index]`` for :meth:`training_scores`.

        Args:
            by_history: ``[n_index, n_index]`` float32.
            histories: ``[n_users, n_index]`` the users' weighted multi-hot training histories (row:
                user index), the matrix the closed form was solved on.
        """
        np.fill_diagonal(by_history, 0.0)
        self.matrix.assign(np.ascontiguousarray(by_history.T))
        # One sparse x dense product for every user (nnz x n_index multiply-adds), instead of
        # gathering each batch's history rows of B at every step of every epoch.
        self.user_scores = tf.constant(np.asarray(sp.csr_matrix(histories, dtype=np.float32) @ by_history,
                                                  dtype=np.float32))

    def release_solution(self) -> None:
        """Drops the training users' scores of :meth:`set_solution` (the matrix itself stays)."""
        self.user_scores = None

    def training_scores(self, user_rows: tf.Tensor) -> tf.Tensor:
        """``x_u B^T`` ``[batch, n_index]`` of training users ``user_rows [batch]`` (their whole
        stored history; the diagonal at 0): the linear columns' share of the dot product in
        training, read from :meth:`set_solution`'s table.

        Raises:
            ConfigError: No solution set (:meth:`set_solution`) or released.
        """
        if self.user_scores is None:
            raise ConfigError("the linear path's training scores are set by set_solution() before training")
        return tf.gather(self.user_scores, user_rows)

    def penalty(self) -> tf.Tensor:
        """``sum(B ** 2)`` (the diagonal is zero)."""
        return tf.reduce_sum(tf.square(self.matrix))
