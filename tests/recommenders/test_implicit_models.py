"""The implicit-library adapters rank exactly as implicit's own recommend does."""

import numpy as np
import pytest

from tfrec.evaluation.splits import make_splits
from tfrec.recommenders import IMPLICIT_MODELS, make_model


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMPLICIT_MODELS))
def test_rankings_equal_implicit_recommend_on_ml100k_u1(name, ml100k):
    split = make_splits(ml100k, "predefined", folds=["u1"])[0]
    model = make_model(name, seed=3).fit(split.train, split.dataset)
    users = np.unique(split.test.user_id)
    ours, our_scores = model.recommend(users, k=10)
    rows = model.seen.rows(users)
    codes, theirs_scores = model.model.recommend(rows, model.user_items[rows], N=10,
                                                 filter_already_liked_items=True)
    theirs = model.catalog[codes]
    # Equal lists wherever the scores do not tie at the cut (ties may be ordered either way).
    distinct = np.abs(np.diff(np.sort(our_scores, axis=1), axis=1)).min(axis=1) > 1e-6
    assert distinct.mean() > 0.9
    np.testing.assert_array_equal(ours[distinct], theirs[distinct])
    np.testing.assert_allclose(our_scores, theirs_scores, rtol=1e-4, atol=1e-5)
