"""Closed-form item-to-item models (numpy only): EASE's and the denoising linear autoencoder's.

Both solve a ridge regression of each item on the others over the users' multi-hot histories
``X`` ``[users, items]``, through one regularized inverse of the Gram matrix. EASE (Steck
2019, :mod:`tfrec.recommenders.ease`) constrains the diagonal to zero; the denoising linear
autoencoder (DLAE, Steck 2020: "Autoencoders that don't overfit towards the Identity") instead
regularizes each item by the dropout it is trained under, which keeps ``B`` away from the
identity without the constraint. The dense matrices grow with the square of the catalog.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp


def regularized_inverse(x: sp.spmatrix, l2: float, dropout: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``P = (X^T X + diag(L))^-1`` with ``L = l2 + dropout / (1 - dropout) * diag(X^T X)``.

    Args:
        x: ``[users, items]`` (weighted) multi-hot histories.
        l2: EASE's ridge ``lambda`` (on the Gram matrix's scale).
        dropout: Rate of the input dropout whose expected loss the second term is (0: EASE).

    Returns:
        ``P`` ``[items, items]`` (float32) and ``L`` ``[items]``.
    """
    gram = (x.T @ x).toarray().astype(np.float32)
    diagonal = np.float32(l2) + np.float32(dropout / (1.0 - dropout)) * np.diag(gram)
    gram[np.diag_indices_from(gram)] += diagonal
    return scipy.linalg.inv(gram, overwrite_a=True, check_finite=False), diagonal


def dlae_weights(x: sp.spmatrix, l2: float, dropout: float) -> np.ndarray:
    """The denoising linear autoencoder's ``B = argmin E||X - (X * M / (1 - p)) B||^2 +
    l2 ||B||^2`` over dropout masks ``M`` of rate ``p`` (Steck 2020): ``I - P L``, its diagonal
    then set to 0 (the diagonal only scores a user's own items, which are never recommended).

    Args:
        x: ``[users, items]`` (weighted) multi-hot histories.
        l2: Ridge ``lambda``; dropout: ``p``.

    Returns:
        ``[items, items]`` float32, ``B[h, j]``: the weight of history item ``h`` for item ``j``.
    """
    inverse, diagonal = regularized_inverse(x, l2, dropout)
    inverse *= -diagonal[None, :]
    inverse[np.diag_indices_from(inverse)] = 0.0
    return inverse
