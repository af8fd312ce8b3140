import numpy as np
import pandas as pd
import pytest

from tfrec.data import load_synthetic
from tfrec.data.synthetic import generate
from tfrec.errors import DataError


def seed_notebook(seed=42, num_users=1000, num_items=500, num_interactions=10000):
    """The seed notebook's data cell, verbatim in substance."""
    np.random.seed(seed)
    users = pd.DataFrame({
        "user_id": range(num_users),
        "age": np.random.randint(18, 65, num_users),
        "gender": np.random.randint(0, 2, num_users),
        "interactions": np.random.randint(1, 5, num_users),
        "region": np.random.randint(0, 5, num_users),
        "device_type": np.random.randint(0, 3, num_users),
    })
    items = pd.DataFrame({
        "item_id": range(num_items),
        "category": np.random.randint(0, 10, num_items),
        "subcategory": np.random.randint(0, 5, num_items),
        "price": np.random.uniform(5, 200, num_items),
        "brand": np.random.randint(0, 50, num_items),
        "discount": np.random.uniform(0, 0.5, num_items),
    })
    ratings = pd.DataFrame({
        "user_id": np.random.randint(0, num_users, num_interactions),
        "item_id": np.random.randint(0, num_items, num_interactions),
        "rating": np.random.randint(1, 6, num_interactions),
    })
    return users, items, ratings


@pytest.mark.parametrize("seed", [0, 42])
def test_signal_zero_reproduces_the_seed_exactly(seed):
    users, items, ratings = generate(signal=0, seed=seed)
    seed_users, seed_items, seed_ratings = seed_notebook(seed)
    pd.testing.assert_frame_equal(users, seed_users, check_dtype=False)
    pd.testing.assert_frame_equal(items, seed_items, check_dtype=False)
    pd.testing.assert_frame_equal(ratings[["user_id", "item_id", "rating"]], seed_ratings,
                                  check_dtype=False)


@pytest.mark.parametrize("signal", [0.0, 1.0])
def test_ranges_and_sizes(signal):
    users, items, ratings = generate(300, 200, 3000, signal=signal, seed=3)
    assert len(users) == 300 and len(items) == 200 and len(ratings) == 3000
    assert users.age.between(18, 64).all() and set(users.gender) <= {0, 1}
    assert users.interactions.between(1, 4).all() and users.region.between(0, 4).all()
    assert users.device_type.between(0, 2).all()
    assert items.category.between(0, 9).all() and items.subcategory.between(0, 4).all()
    assert items.price.between(5, 200).all() and items.brand.between(0, 49).all()
    assert items.discount.between(0, 0.5).all()
    assert ratings.rating.between(1, 5).all()
    assert ratings.user_id.between(0, 299).all() and ratings.item_id.between(0, 199).all()
    assert ratings.timestamp.notna().all()


def test_same_seed_same_data_other_seed_other_data():
    a = generate(200, 100, 2000, seed=5)
    b = generate(200, 100, 2000, seed=5)
    c = generate(200, 100, 2000, seed=6)
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)
    assert not a[2].equals(c[2])


def test_planted_signal_is_learnable_and_noise_is_not():
    """Ratings depend on item features with signal, and on nothing without."""
    def category_effect(signal):
        users, items, ratings = generate(1000, 500, 20000, signal=signal, seed=1)
        merged = ratings.merge(items, on="item_id")
        means = merged.groupby(["category"])["rating"].mean()
        return means.max() - means.min()

    assert category_effect(0.0) < 0.15
    assert category_effect(1.0) > 0.3


def test_planted_pairs_are_unique_and_popularity_skewed():
    _, _, ratings = generate(500, 300, 8000, signal=1.0, seed=2)
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    counts = ratings.item_id.value_counts()
    assert counts.iloc[0] > 3 * counts.median()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(n_users=0), "n_users must be a positive integer"),
    (dict(signal=-1), "signal must be >= 0"),
    (dict(n_users=10, n_items=10, n_ratings=80), "distinct ratings need"),
])
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        generate(**kwargs)


def test_seed_duplicates_are_merged_and_counted():
    dataset = load_synthetic(signal=0)
    assert dataset.report.rows_in == 10_000
    assert dataset.report.merged_duplicates == 10_000 - len(dataset.interactions) > 0
