"""Interaction frames as named arrays with joined features, and as tf.data batches."""

import numpy as np
import pytest

from tfrec.data import load_synthetic
from tfrec.data.columns import feature_columns, side_columns
from tfrec.data.pipeline import frame_batches as to_tf_dataset
from tfrec.errors import DataError


@pytest.fixture(scope="module")
def small():
    return load_synthetic(200, 100, 1500, seed=7)


def test_feature_columns_join_user_and_item_features(small):
    frame = small.interactions.iloc[:50]
    columns = feature_columns(small, frame)
    users = small.users.set_index("user_id")
    items = small.items.set_index("item_id")
    np.testing.assert_array_equal(columns["age"], users.loc[frame.user_id, "age"].to_numpy())
    np.testing.assert_allclose(columns["price"], items.loc[frame.item_id, "price"].to_numpy(), rtol=1e-6)
    assert set(columns) == {"user_id", "item_id", "rating", "timestamp", "age", "gender",
                            "interactions", "region", "device_type", "category", "subcategory",
                            "price", "brand", "discount"}


def test_tf_dataset_holds_every_row_once_and_is_seeded(small):
    frame = small.interactions
    batches = list(to_tf_dataset(small, frame, batch_size=128, seed=3))
    assert sum(int(b["user_id"].shape[0]) for b in batches) == len(frame)
    pairs = {(int(u), int(i)) for b in batches for u, i in zip(b["user_id"].numpy(), b["item_id"].numpy(), strict=True)}
    assert pairs == set(zip(frame.user_id, frame.item_id, strict=True))
    again = list(to_tf_dataset(small, frame, batch_size=128, seed=3))
    np.testing.assert_array_equal(batches[0]["item_id"].numpy(), again[0]["item_id"].numpy())
    ordered = next(iter(to_tf_dataset(small, frame, batch_size=8, shuffle=False)))
    np.testing.assert_array_equal(ordered["item_id"].numpy(), frame.item_id.to_numpy()[:8])


def test_side_columns_defaults_for_unknown_ids_or_an_error(small):
    columns = side_columns(small, "user", np.array([1, 10**9]), missing="default")
    assert np.isnan(columns["age"][1]) and not np.isnan(columns["age"][0])
    assert columns["region"][1] == -1  # an int category: -1 is out of vocabulary
    with pytest.raises(DataError, match="no feature row"):
        side_columns(small, "user", np.array([10**9]))
