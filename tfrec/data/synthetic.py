"""Synthetic users, items and ratings, faithful to the seed notebook.

With ``signal=0`` the generator reproduces the seed notebook's data exactly: it seeds NumPy's
legacy ``RandomState`` with ``seed`` and draws, in the notebook's order::

    users:   age randint(18, 65), gender randint(0, 2), interactions randint(1, 5),
             region randint(0, 5), device_type randint(0, 3)
    items:   category randint(0, 10), subcategory randint(0, 5), price uniform(5, 200),
             brand randint(0, 50), discount uniform(0, 0.5)
    ratings: user_id randint(0, n_users), item_id randint(0, n_items), rating randint(1, 6)

Those ratings are pure noise: independent of every feature and id (and, as in the seed, a
(user, item) pair may repeat). A ``timestamp`` column is added from a separate random stream,
so the seed's columns are untouched.

With ``signal > 0`` the same user and item tables are drawn, then preferences are planted:
each user and item gets a latent vector made of embeddings of its features plus a per-id
factor. Users pick items by a softmax over affinity among random candidates (so retrieval can
learn), and ratings are ``3 + signal * (affinity + biases) + noise``, rounded and clipped to
1..5 (so rating models can learn). Pairs are unique. Everything is vectorized and seeded.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tfrec.errors import DataError

logger = logging.getLogger(__name__)

LATENT_DIM = 8
CANDIDATES_PER_DRAW = 16
_CHUNK = 1_000_000
TIME_START = 1_600_000_000  # 2020-09-13, an arbitrary fixed origin
TIME_SPAN = 365 * 24 * 3600


def seed_tables(
    n_users: int, n_items: int, n_ratings: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draws the seed notebook's users, items and pure-noise ratings, exactly as it did.

    Returns:
        ``(users, items, ratings)`` frames; ``ratings`` has user_id, item_id, rating.
    """
    rng = np.random.RandomState(seed)
    users = pd.DataFrame({
        "user_id": np.arange(n_users),
        "age": rng.randint(18, 65, n_users),
        "gender": rng.randint(0, 2, n_users),
        "interactions": rng.randint(1, 5, n_users),
        "region": rng.randint(0, 5, n_users),
        "device_type": rng.randint(0, 3, n_users),
    })
    items = pd.DataFrame({
        "item_id": np.arange(n_items),
        "category": rng.randint(0, 10, n_items),
        "subcategory": rng.randint(0, 5, n_items),
        "price": rng.uniform(5, 200, n_items),
        "brand": rng.randint(0, 50, n_items),
        "discount": rng.uniform(0, 0.5, n_items),
    })
    ratings = pd.DataFrame({
        "user_id": rng.randint(0, n_users, n_ratings),
        "item_id": rng.randint(0, n_items, n_ratings),
        "rating": rng.randint(1, 6, n_ratings),
    })
    return users, items, ratings


def _embed(rng: np.random.Generator, codes: np.ndarray, n_values: int, scale: float) -> np.ndarray:
    """Returns a random ``[n_values, LATENT_DIM]`` table looked up at ``codes``."""
    return (rng.normal(0.0, scale, (n_values, LATENT_DIM)) / np.sqrt(LATENT_DIM))[codes]


def _latents(users: pd.DataFrame, items: pd.DataFrame, rng: np.random.Generator):
    """Latent user/item vectors ``[n, LATENT_DIM]`` and biases, driven by features and ids."""
    age_bucket = np.clip((users["age"].to_numpy() - 18) // 10, 0, 4)
    user_vec = (
        _embed(rng, age_bucket, 5, 1.0)
        + _embed(rng, users["gender"].to_numpy(), 2, 0.7)
        + _embed(rng, users["region"].to_numpy(), 5, 0.7)
        + _embed(rng, users["device_type"].to_numpy(), 3, 0.5)
        + rng.normal(0.0, 0.8, (len(users), LATENT_DIM)) / np.sqrt(LATENT_DIM)
    )
    price_bucket = np.clip(np.log(items["price"].to_numpy() / 5.0) // 0.75, 0, 4).astype(int)
    item_vec = (
        _embed(rng, items["category"].to_numpy(), 10, 1.0)
        + _embed(rng, items["subcategory"].to_numpy() + 5 * items["category"].to_numpy(), 50, 0.5)
        + _embed(rng, price_bucket, 5, 0.7)
        + _embed(rng, items["brand"].to_numpy(), 50, 0.5)
        + rng.normal(0.0, 0.8, (len(items), LATENT_DIM)) / np.sqrt(LATENT_DIM)
    )
    # Scale so that affinities have unit variance whatever the sizes.
    user_vec /= user_vec.std() * np.sqrt(LATENT_DIM) ** 0.5
    item_vec /= item_vec.std() * np.sqrt(LATENT_DIM) ** 0.5
    user_bias = rng.normal(0.0, 0.3, len(users))
    item_bias = rng.normal(0.0, 0.3, len(items)) + 0.4 * items["discount"].to_numpy()
    popularity = rng.normal(0.0, 1.0, len(items))
    return user_vec, item_vec, user_bias, item_bias, popularity


def _planted_ratings(users, items, n_ratings, signal, rng) -> pd.DataFrame:
    n_users, n_items = len(users), len(items)
    user_vec, item_vec, user_bias, item_bias, popularity = _latents(users, items, rng)
    user_vec32, item_vec32 = user_vec.astype(np.float32), item_vec.astype(np.float32)
    popularity32 = (0.5 * popularity).astype(np.float32)
    activity = users["interactions"].to_numpy().astype(float)
    activity_p = activity / activity.sum()
    parts, seen, total = [], None, 0
    while total < n_ratings:
        need = int((n_ratings - total) * 1.15) + 16
        chunk_u, chunk_i = [], []
        for start in range(0, need, _CHUNK):
            m = min(_CHUNK, need - start)
            u = rng.choice(n_users, size=m, p=activity_p)
            cand = rng.integers(0, n_items, (m, CANDIDATES_PER_DRAW))
            affinity = np.einsum("md,mcd->mc", user_vec32[u], item_vec32[cand]) + popularity32[cand]
            uniform = rng.random(affinity.shape, dtype=np.float32) + np.float32(1e-12)
            gumbel = -np.log(-np.log(uniform))
            pick = np.argmax(np.float32(signal * 2.0) * affinity + gumbel, axis=1)
            chunk_u.append(u)
            chunk_i.append(cand[np.arange(m), pick])
        pairs = pd.DataFrame({"user_id": np.concatenate(chunk_u), "item_id": np.concatenate(chunk_i)})
        pairs = pairs.drop_duplicates()
        if seen is not None:
            key = pairs["user_id"].to_numpy() * n_items + pairs["item_id"].to_numpy()
            pairs = pairs[~np.isin(key, seen)]
        pairs = pairs.iloc[: n_ratings - total]
        if len(pairs) == 0:
            raise DataError(
                f"cannot draw {n_ratings} distinct (user, item) pairs from {n_users} users x "
                f"{n_items} items with this signal",
                fix="ask for fewer ratings or more users/items.",
            )
        key = pairs["user_id"].to_numpy() * n_items + pairs["item_id"].to_numpy()
        seen = key if seen is None else np.concatenate([seen, key])
        parts.append(pairs)
        total += len(pairs)
    pairs = pd.concat(parts, ignore_index=True)
    u, i = pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy()
    affinity = np.einsum("nd,nd->n", user_vec[u], item_vec[i])
    latent = affinity + user_bias[u] + item_bias[i]
    raw = 2.4 + signal * 1.2 * latent + rng.normal(0.0, 0.5, len(u))
    pairs["rating"] = np.clip(np.rint(raw), 1, 5).astype(np.int64)
    return pairs


def generate(
    n_users: int = 1000,
    n_items: int = 500,
    n_ratings: int = 10_000,
    *,
    signal: float = 1.0,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Generates synthetic users, items and ratings.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        n_ratings: Number of ratings (interactions).
        signal: ``0`` reproduces the seed's pure noise exactly; ``> 0`` plants preferences of
            this strength (1.0 is the default of every command).
        seed: Random seed; the same seed gives the same tables.

    Returns:
        ``(users, items, ratings)``; ``ratings`` has user_id, item_id, rating, timestamp.

    Raises:
        DataError: A non-positive size, a negative signal, or more distinct pairs requested
            than exist.
    """
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings)):
        if int(value) != value or value <= 0:
            raise DataError(f"{name} must be a positive integer, got {value!r}")
    if not signal >= 0:
        raise DataError(f"signal must be >= 0, got {signal!r}", fix="use 0 for pure noise, 1 for the default.")
    if signal > 0 and n_ratings > 0.5 * n_users * n_items:
        raise DataError(
            f"{n_ratings} distinct ratings need at least {2 * n_ratings} user x item pairs, "
            f"have {n_users * n_items}",
            fix="ask for fewer ratings or more users/items.",
        )
    users, items, ratings = seed_tables(n_users, n_items, n_ratings, seed)
    extra = np.random.default_rng([seed, 1])
    if signal > 0:
        ratings = _planted_ratings(users, items, n_ratings, float(signal), extra)
    ratings["timestamp"] = TIME_START + np.sort(extra.integers(0, TIME_SPAN, len(ratings)))[
        extra.permutation(len(ratings))
    ]
    logger.info("synthetic data: %d users, %d items, %d ratings, signal=%g, seed=%d",
                n_users, n_items, len(ratings), signal, seed)
    return users, items, ratings
