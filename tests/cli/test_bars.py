"""The terminal progress bars."""

import pytest

from tfrec.cli.bars import Bars


@pytest.mark.parametrize("steps", [8, None])
def test_the_inner_bar_counts_steps_when_several_run_per_report(steps):
    """Keras reports once per compiled call (steps_per_execution): step 16, 32, ... or, with
    fewer steps than one call, only each epoch's last step."""
    bars = Bars("compare")
    bars.fit_started("two-tower", "u1")
    for epoch in (1, 2, 3):
        for step in (5, 8):
            bars.training_step(epoch, 3, step, steps)
    assert bars.inner.n == 24
    if steps:
        assert bars.inner.total == 24
    bars.close()
