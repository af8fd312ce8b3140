"""In-memory batches: one seeded permutation per epoch, sliced into batches."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.data.pipeline import batch_count, tensor_batches


def _epochs(data, n=3):
    return [np.concatenate([b["row"].numpy() for b in data]) for _ in range(n)]


@pytest.mark.parametrize("rows, batch", [(10, 3), (9, 3), (1000, 64)])
def test_each_epoch_is_a_new_permutation_of_every_row(rows, batch):
    data = tensor_batches({"row": tf.range(rows, dtype=tf.int64)}, batch_size=batch, seed=4)
    assert int(data.cardinality()) == -(-rows // batch)
    epochs = _epochs(data)
    for order in epochs:
        assert sorted(order.tolist()) == list(range(rows))
    if rows > 10:
        assert not np.array_equal(epochs[0], epochs[1]), "reshuffled each epoch"
    sizes = [len(b["row"]) for b in data]
    assert sizes == [batch] * (rows // batch) + ([rows % batch] if rows % batch else [])


def test_the_same_seed_gives_the_same_epochs_and_another_seed_others():
    def make(seed):
        return _epochs(tensor_batches({"row": tf.range(500, dtype=tf.int64)}, batch_size=50, seed=seed))
    first, again, other = make(1), make(1), make(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_pipelines_take_disjoint_shares_and_drop_the_remainder():
    shares = []
    for pipeline in range(3):
        context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipeline)
        data = tensor_batches({"row": tf.range(100, dtype=tf.int64)}, batch_size=8, seed=5,
                              drop_remainder=True, input_context=context)
        batches = [b["row"].numpy() for b in data]
        assert all(len(b) == 8 for b in batches) and len(batches) == int(data.cardinality())
        shares.append(np.concatenate(batches))
    together = np.concatenate(shares)
    assert len(set(together.tolist())) == len(together), "no row in two pipelines"


def test_without_shuffle_the_order_is_fixed():
    data = tensor_batches({"row": tf.range(7, dtype=tf.int64)}, batch_size=3, shuffle=False)
    assert [b["row"].numpy().tolist() for b in data] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("rows,size", [(0, 4), (1, 4), (8, 4), (9, 4), (1000, 7)])
def test_batch_count_matches_the_batches_the_pipeline_makes(rows, size):
    columns = {"a": tf.range(rows)}
    for drop in (False, True):
        made = sum(1 for _ in tensor_batches(columns, batch_size=size, shuffle=False, drop_remainder=drop))
        assert batch_count(rows, size, drop) == made
        assert int(batch_count(tf.constant(rows, tf.int64), tf.constant(size, tf.int64), drop)) == made
