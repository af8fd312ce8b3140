"""Interaction frames as Surprise data."""

from tfrec.data import load_synthetic
from tfrec.evaluation.splits import make_splits
from tfrec.recommenders.surprise_data import to_surprise_testset, to_surprise_trainset


def test_surprise_conversion():
    small = load_synthetic(200, 100, 1500, seed=7)
    (split,) = make_splits(small, "random", seed=0)
    trainset = to_surprise_trainset(small, split.train)
    assert trainset.n_ratings == len(split.train)
    assert trainset.n_users == split.train.user_id.nunique()
    assert trainset.rating_scale == (1.0, 5.0)
    testset = to_surprise_testset(small, split.test)
    assert testset[0] == (split.test.user_id.iloc[0], split.test.item_id.iloc[0], split.test.rating.iloc[0])
