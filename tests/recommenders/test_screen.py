"""The float32 screen: its error bound holds, and refining it gives the exact top k (ties by
column, masked cells last) whatever the approximation does within the bound."""

import numpy as np
import pytest

from tfrec.recommenders.screen import FactorScreen, Screened, refined_top_k
from tfrec.recommenders.topk import top_k_rows


def exact_lists(exact: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-exact, axis=1, kind="stable")[:, :k]


def screened_from(exact: np.ndarray, slack: np.ndarray, rng, ceiling=None) -> Screened:
    """An adversarial approximation: each cell moved anywhere within the slack (masked cells kept)."""
    noise = rng.uniform(-1.0, 1.0, exact.shape) * slack[:, None]
    edge = rng.random(exact.shape) < 0.3  # a third of the cells at the very edge of the bound
    noise[edge] = (np.sign(noise) * slack[:, None])[edge]
    approx = np.where(np.isneginf(exact), -np.inf, exact + noise).astype(np.float32)
    # float32 rounding is part of the approximation: the slack covers it
    finite = np.isfinite(exact)
    rounding = np.zeros(exact.shape)
    rounding[finite] = np.abs(approx[finite] - exact[finite])
    slack = slack + rounding.max(axis=1)
    return Screened(approx, slack, lambda r, c: exact[r, c], ceiling)


@pytest.mark.parametrize("seed", range(6))
def test_refining_gives_the_exact_lists_with_ties_at_the_ceiling_and_masks(seed):
    rng = np.random.default_rng(seed)
    n, m, k = 40, int(rng.integers(15, 700)), int(rng.integers(1, 12))
    exact = np.round(rng.normal(3.5, 1.0, (n, m)), int(rng.integers(1, 4)))  # rounding makes exact ties
    exact = np.clip(exact, 1.0, 5.0)  # many rows tied at the ceiling
    exact[rng.random((n, m)) < 0.2] = -np.inf  # masked
    exact[0, : m - k // 2] = -np.inf  # a row with fewer finite cells than k
    slack = rng.choice([0.0, 1e-4, 0.05, 0.5], n)
    screened = screened_from(exact, slack, rng, ceiling=5.0)
    columns, values = refined_top_k(screened, k)
    np.testing.assert_array_equal(columns, exact_lists(exact, k))
    np.testing.assert_array_equal(values, np.take_along_axis(exact, columns, axis=1))


def test_without_a_ceiling_and_with_wide_bounds_every_row_is_scanned():
    rng = np.random.default_rng(9)
    exact = rng.normal(size=(30, 500))
    screened = screened_from(exact, np.full(30, 2.0), rng)  # bounds far wider than the gaps
    columns, _ = refined_top_k(screened, 5)
    np.testing.assert_array_equal(columns, exact_lists(exact, 5))
    assert not np.array_equal(top_k_rows(screened.approx, 5), columns), "the approximation alone would differ"


def test_the_factor_screens_bound_holds_for_large_and_unbalanced_factors():
    rng = np.random.default_rng(3)
    for f, scale in ((3, 1.0), (100, 0.1), (300, 3.0)):
        items = rng.normal(0, scale, (400, f)) * rng.choice([0.01, 1.0, 30.0], (400, 1))
        users = rng.normal(0, scale, (50, f)) * rng.choice([0.01, 1.0, 30.0], (50, 1))
        item_bias, user_bias = rng.normal(0, 2, 400), 3.5 + rng.normal(0, 2, 50)
        screen = FactorScreen(item_bias, items, -np.inf, np.inf)
        screened = screen.screen(user_bias, users)
        exact = user_bias[:, None] + item_bias[None, :] + users @ items.T
        error = np.abs(screened.approx - exact)
        assert (error <= screened.slack[:, None]).all()
        assert error.max() > screened.slack.min() / 1e3, "the bound is not vacuous"
        rows, columns = np.nonzero(np.ones_like(exact, bool))
        np.testing.assert_allclose(screened.exact(rows, columns), exact.ravel(), rtol=1e-12, atol=1e-9)
    clipped = FactorScreen(item_bias, items, 1.0, 5.0).screen(user_bias, users)
    assert clipped.ceiling == 5.0 and clipped.approx.max() <= 5.0 and clipped.approx.min() >= 1.0
