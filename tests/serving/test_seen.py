"""Top-k without a user's training items and a request's exclusions (tfrec.serving.seen)."""

import numpy as np
import tensorflow as tf

from tfrec.serving.seen import CatalogPositions, top_k_excluding

SCORES = tf.constant([[9.0, 8.0, 7.0, 6.0, 5.0]])
IDS = tf.constant([[10, 11, 12, 13, 14]], tf.int64)
CATALOG = CatalogPositions(np.array([14, 13, 12, 11, 10, 99]), tf.int64)


def test_left_out_ids_never_appear_while_enough_others_remain():
    scores, ids = top_k_excluding(SCORES, IDS, tf.constant([[11, -1]], tf.int64), 2, CATALOG,
                                  fallback=tf.constant([[10]], tf.int64))
    np.testing.assert_array_equal(ids, [[12, 13]])
    np.testing.assert_array_equal(scores, [[7.0, 6.0]])


def test_a_short_list_is_filled_with_training_items_before_requested_exclusions():
    """Five candidates, two training items (10, 14) and two exclusions (11, 12): one remains;
    the training items fill the list (best first) before any excluded id, at score -inf."""
    scores, ids = top_k_excluding(SCORES, IDS, tf.constant([[11, 12]], tf.int64), 4, CATALOG,
                                  fallback=tf.constant([[14, 10]], tf.int64))
    np.testing.assert_array_equal(ids, [[13, 10, 14, 11]])
    assert scores.numpy()[0, 0] == 6.0 and np.all(np.isneginf(scores.numpy()[0, 1:]))


def test_nothing_left_out_keeps_the_order():
    scores, ids = top_k_excluding(SCORES, IDS, None, 3, CATALOG)
    np.testing.assert_array_equal(ids, [[10, 11, 12]])
    np.testing.assert_array_equal(scores, [[9.0, 8.0, 7.0]])


def test_membership_per_row_matches_the_set_test_for_int_and_string_ids():
    rng = np.random.default_rng(0)
    catalog = rng.permutation(500)[:300]
    ids = np.stack([rng.choice(catalog, 40, replace=False) for _ in range(6)])
    group = rng.choice(np.r_[catalog, [-1, 10**9]], (6, 25))  # padding and ids outside the catalog
    expected = np.array([[i in set(g) for i in row] for row, g in zip(ids, group, strict=True)])
    assert expected.any() and not expected.all()
    for dtype, cast in ((tf.int64, lambda a: a), (tf.string, lambda a: a.astype(str).astype(object))):
        positions = CatalogPositions(cast(catalog), dtype)
        got = positions.member(tf.constant(cast(ids), dtype), tf.constant(cast(group), dtype)).numpy()
        np.testing.assert_array_equal(got, expected)
