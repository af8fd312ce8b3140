import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfrec.data.dataset import build_dataset
from tfrec.errors import DataError
from tfrec.evaluation.splits import SPLIT_METHODS, make_splits
from tfrec.schema import Schema

SCHEMA = Schema(timestamp="ts")
SINGLE = ("random", "stratified", "temporal", "leave_last", "cold_users", "cold_items")


@st.composite
def datasets(draw):
    n_users = draw(st.integers(2, 15))
    n_items = draw(st.integers(2, 15))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                          min_size=4, max_size=120, unique=True))
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    frame["rating"] = draw(st.lists(st.integers(1, 5), min_size=len(frame), max_size=len(frame)))
    frame["ts"] = draw(st.lists(st.integers(0, 50), min_size=len(frame), max_size=len(frame)))
    return build_dataset("h", SCHEMA, frame)


def keys(frame):
    return set(zip(frame.user_id, frame.item_id, strict=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.sampled_from(SPLIT_METHODS[:5] + SPLIT_METHODS[6:]), st.integers(0, 10**6),
       st.sampled_from([0.0, 0.2]))
def test_splits_partition_rows_and_are_deterministic(dataset, method, seed, validation_ratio):
    splits = make_splits(dataset, method, seed=seed, validation_ratio=validation_ratio,
                         n_folds=2, test_ratio=0.3)
    again = make_splits(dataset, method, seed=seed, validation_ratio=validation_ratio,
                        n_folds=2, test_ratio=0.3)
    everything = keys(dataset.interactions)
    for split, twin in zip(splits, again, strict=True):
        parts = [split.train, split.test] + ([split.validation] if split.validation is not None else [])
        sets = [keys(p) for p in parts]
        assert sum(len(p) for p in parts) == len(everything)
        assert set().union(*sets) == everything
        for i in range(len(sets)):
            for j in range(i + 1, len(sets)):
                assert not sets[i] & sets[j]
        assert split.train.equals(twin.train) and split.test.equals(twin.test)
    if method == "kfold":
        tests = [keys(s.test) for s in splits]
        assert set().union(*tests) == everything and not tests[0] & tests[1]


@settings(max_examples=30, deadline=None)
@given(datasets(), st.integers(0, 10**6))
def test_cold_start_splits_hold_out_whole_users_and_items(dataset, seed):
    (users,) = make_splits(dataset, "cold_users", seed=seed, test_ratio=0.3)
    assert not set(users.test.user_id) & set(users.train.user_id)
    assert set(users.unseen_test_users) == set(users.test.user_id)
    (items,) = make_splits(dataset, "cold_items", seed=seed, test_ratio=0.3)
    assert not set(items.test.item_id) & set(items.train.item_id)
    assert set(items.unseen_test_items) == set(items.test.item_id)


@settings(max_examples=30, deadline=None)
@given(datasets())
def test_temporal_and_leave_last_respect_time(dataset):
    (temporal,) = make_splits(dataset, "temporal", test_ratio=0.3)
    assert temporal.train.ts.max() <= temporal.test.ts.min()
    (last,) = make_splits(dataset, "leave_last", n_last=1)
    for user, rows in last.test.groupby("user_id"):
        train_ts = last.train.loc[last.train.user_id == user, "ts"]
        assert len(rows) == 1 and len(train_ts) >= 1 and rows.ts.iloc[0] >= train_ts.max()


def test_different_seeds_differ_and_stratified_keeps_users():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(50), 10), "item_id": np.tile(np.arange(10), 50),
                          "rating": rng.integers(1, 6, 500), "ts": rng.integers(0, 10**6, 500)})
    dataset = build_dataset("s", SCHEMA, frame)
    a, b = make_splits(dataset, "random", seed=1)[0], make_splits(dataset, "random", seed=2)[0]
    assert not a.test.equals(b.test)
    (strat,) = make_splits(dataset, "stratified", test_ratio=0.2)
    assert (strat.test.groupby("user_id").size() == 2).all() and strat.unseen_test_users.size == 0


@pytest.mark.slow
def test_predefined_folds_on_ml100k(ml100k):
    splits = make_splits(ml100k, "predefined")
    assert [s.name for s in splits] == ["u1", "u2", "u3", "u4", "u5"]
    tests = [keys(s.test) for s in splits]
    assert sum(len(t) for t in tests) == 100_000 and set().union(*tests) == keys(ml100k.interactions)
    assert all(len(s.train) == 80_000 for s in splits)


def test_split_errors():
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "rating": [1, 2]})
    dataset = build_dataset("e", Schema(), frame)
    with pytest.raises(DataError, match="needs timestamps"):
        make_splits(dataset, "temporal")
    with pytest.raises(DataError, match="no predefined fold"):
        make_splits(dataset, "predefined")
    with pytest.raises(DataError, match="unknown split method 'bogus'"):
        make_splits(dataset, "bogus")
    with pytest.raises(DataError, match="test_ratio must be in"):
        make_splits(dataset, "random", test_ratio=1.5)


def test_cold_users_with_history_divides_each_held_out_users_rows(synthetic):
    frame = synthetic.interactions
    split = make_splits(synthetic, "cold_users", test_ratio=0.2, cold_history=0.8, seed=2)[0]
    assert len(split.train) + len(split.test) + len(split.fold_in) == len(frame)  # every row once
    held = set(split.test.user_id) | set(split.fold_in.user_id)
    assert held and not held & set(split.train.user_id)
    counts = frame[frame.user_id.isin(held)].groupby("user_id").size()
    given = split.fold_in.groupby("user_id").size().reindex(counts.index, fill_value=0)
    np.testing.assert_array_equal(given.to_numpy(), np.floor(0.8 * counts.to_numpy()))
    again = make_splits(synthetic, "cold_users", test_ratio=0.2, cold_history=0.8, seed=2)[0]
    pd.testing.assert_frame_equal(split.fold_in, again.fold_in)
    assert split.summary()["fold_in"] == len(split.fold_in)
    with pytest.raises(DataError, match="cold_history applies to --split cold_users"):
        make_splits(synthetic, "random", cold_history=0.5)


def test_a_split_carves_its_training_rows_by_its_own_protocol():
    """Split.carve: the latest training rows for temporal and leave_last, the hash otherwise --
    the same rows make_splits' validation_ratio sets aside."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame([(u, i) for u in range(20) for i in range(10)], columns=["user_id", "item_id"])
    frame["rating"], frame["ts"] = rng.integers(1, 6, len(frame)), rng.permutation(len(frame))
    dataset = build_dataset("carve", SCHEMA, frame)
    (temporal,) = make_splits(dataset, "temporal", test_ratio=0.3)
    kept, held = temporal.carve(0.2, seed=1)
    assert temporal.method == "temporal" and len(held) and kept.ts.max() <= held.ts.min()
    assert len(kept) + len(held) == len(temporal.train)
    (with_validation,) = make_splits(dataset, "temporal", test_ratio=0.3, validation_ratio=0.2, seed=1)
    assert keys(with_validation.validation) == keys(held)
    (last,) = make_splits(dataset, "leave_last", n_last=1)
    kept, held = last.carve(0.2, seed=1)
    assert held.groupby("user_id").size().max() == 1  # each user's latest training row
    (random,) = make_splits(dataset, "random", seed=3)
    kept, held = random.carve(0.2, seed=3)
    (carved,) = make_splits(dataset, "random", seed=3, validation_ratio=0.2)
    assert keys(held) == keys(carved.validation) and keys(kept) == keys(carved.train)
    assert random.carve(0.0, seed=3)[1] is None
