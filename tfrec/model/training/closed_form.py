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
import scipy.linalg.lapack as lapack
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

#: Gram rows built (and triangles copied) per block by :func:`ease_weights_in_place`.
BLOCK_ROWS = 2048


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


def ease_weights_in_place(x: sp.spmatrix, l2: float, block: int = BLOCK_ROWS) -> np.ndarray:
    """EASE's ``B = -P / diag(P)`` (column-wise, diagonal 0) in one ``[items, items]`` float32
    buffer: the Gram matrix is built in it block by block from the sparse product, factored and
    inverted in place by LAPACK's Cholesky routines (``spotrf``, ``spotri``: ``X^T X + l2 I`` is
    symmetric positive definite), its triangle mirrored, and divided by the diagonal in place.
    Peak memory is that buffer plus one block (41k items: 6.3 GiB, not three such matrices).

    Args:
        x: ``[users, items]`` (weighted) multi-hot histories.
        l2: EASE's ridge ``lambda``.
        block: Gram rows per sparse product.

    Returns:
        ``B`` ``[items, items]`` float32, C order: row ``h`` is history item ``h``'s weights.

    Raises:
        ValueError: LAPACK reports the matrix not positive definite or a copy was made.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[1]
    buffer = np.empty((n, n), dtype=np.float32)
    columns = x.T.tocsr()
    for start in range(0, n, block):
        buffer[start:start + block] = (columns[start:start + block] @ x).toarray()
    buffer[np.diag_indices(n)] += np.float32(l2)
    # The buffer is symmetric, so its transpose (Fortran order, the same memory) is the matrix.
    # One BLAS thread: OpenBLAS's threaded potrf crashed (SIGSEGV) at 33k and 41k items here
    # (0.3.x, 2 threads; 24k passed); single-threaded it does not.
    with threadpool_limits(1):
        factor, info = lapack.spotrf(buffer.T, lower=0, overwrite_a=1, clean=0)
        if info != 0 or not np.shares_memory(factor, buffer):
            raise ValueError(f"Cholesky factorization failed in place (info {info})")
        inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0 or not np.shares_memory(inverse, buffer):
        raise ValueError(f"inversion failed in place (info {info})")
    # The Fortran upper triangle is the buffer's lower one: mirror it onto the upper, by blocks.
    for start in range(0, n, block):
        stop = min(start + block, n)
        square = buffer[start:stop, start:stop]
        square[np.triu_indices(stop - start, 1)] = square.T[np.triu_indices(stop - start, 1)]
        buffer[start:stop, stop:] = buffer[stop:, start:stop].T
    diagonal = np.diag(buffer).copy()
    np.divide(buffer, -diagonal[None, :], out=buffer)
    buffer[np.diag_indices(n)] = 0.0
    return buffer

