"""Progress hooks: library code reports how far long work is, and the CLI draws the bars.

The base class does nothing, so library callers (notebooks, tests) pay nothing; ``tfrec
compare`` passes a subclass that draws an outer bar over the fits and an inner bar over the
two-tower's epochs and steps.
"""

from __future__ import annotations


class Progress:
    """Hooks called by the harness (fits) and by two-tower training (epochs and steps)."""

    def run_started(self, fits: int) -> None:
        """The run will make ``fits`` fits (models x folds)."""

    def fit_started(self, model: str, fold: str) -> None:
        """``model`` starts fitting on ``fold``."""

    def fit_finished(self, model: str, fold: str) -> None:
        """``model`` was fitted and evaluated on ``fold``."""

    def training_step(self, epoch: int, epochs: int, step: int, steps: int | None) -> None:
        """A training step ended: ``step`` (1-based) of ``steps`` (``None``: unknown) in
        ``epoch`` (1-based) of ``epochs``."""
