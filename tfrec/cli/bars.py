"""Terminal progress bars (tqdm on stderr) for the library's :class:`~tfrec.progress.Progress`."""

from __future__ import annotations

import sys
from typing import Any

from tfrec.progress import Progress


class Bars(Progress):
    """An outer bar over the fits (models x folds; it names the model being fitted and the time
    left for the whole run) and an inner bar over the two-tower's epochs and steps.

    Args:
        desc: The outer bar's label.
        disable: Draw nothing (``--quiet``).
    """

    def __init__(self, desc: str, disable: bool = False) -> None:
        self.desc, self.disable = desc, disable
        self.outer: Any = None
        self.inner: Any = None
        self.model = ""
        self._last = (0, 0)  # the (epoch, step) of the inner bar's last report

    def run_started(self, fits: int) -> None:
        from tqdm import tqdm

        self.close()  # a run after another (compare --tune: each trial, then the comparison)

        self.outer = tqdm(total=fits, desc=self.desc, unit="fit", file=sys.stderr, disable=self.disable,
                          bar_format="{desc}: {n_fmt}/{total_fmt} fits |{bar:20}| {elapsed}<{remaining}{postfix}")

    def fit_started(self, model: str, fold: str) -> None:
        self.model = model
        if self.outer is not None:
            self.outer.set_postfix_str(f"fitting {model} on {fold}")

    def training_step(self, epoch: int, epochs: int, step: int, steps: int | None) -> None:
        from tqdm import tqdm

        if self.inner is None:
            self.inner = tqdm(total=epochs * steps if steps else None, desc=f"  {self.model}", unit="step",
                              file=sys.stderr, disable=self.disable, leave=False, position=1,
                              bar_format="{desc}: |{bar:20}| {elapsed}<{remaining}{postfix}")
            self._last = (0, 0)
        self.inner.set_postfix_str(f"epoch {epoch}/{epochs}, step {step}" + (f"/{steps}" if steps else ""),
                                   refresh=False)
        # Several steps run per compiled call: advance by the steps done since the last report.
        last_epoch, last_step = self._last
        self.inner.update(step - last_step if epoch == last_epoch else step)
        self._last = (epoch, step)

    def fit_finished(self, model: str, fold: str) -> None:
        self._close_inner()
        if self.outer is not None:
            self.outer.set_postfix_str(f"{model} on {fold} done")
            self.outer.update()

    def close(self) -> None:
        """Removes the inner bar and ends the outer one."""
        self._close_inner()
        if self.outer is not None:
            self.outer.close()

    def _close_inner(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner = None

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
