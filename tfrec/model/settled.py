"""The ``auto`` choices of a :class:`~tfrec.model.config.ModelConfig`, settled for one data set:
the typed record the network and its training read (never a config value that may still be
``"auto"``).

:func:`tfrec.model.training.build.resolve_examples` settles the config for the catalog and the
device (the rules live there); :meth:`Settled.of` then reads the settled config once, refusing
one that is not, so that mypy checks every branch that depends on a choice.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfrec.errors import ConfigError
from tfrec.model.config import ModelConfig


def kept_item_weight_for(user_loss: str) -> float:
    """``kept_item_weight = "auto"``: 0 with the squared loss (the linear path), else 1."""
    return 0.0 if user_loss == "squared" else 1.0


@dataclasses.dataclass(frozen=True)
class Settled:
    """The settled choices.

    Attributes:
        examples: What one training example is: an interaction row or a user.
        negatives: The interaction batches' negatives (``full`` with users' batches).
        history_linear: The item-to-item path beside the towers.
        user_loss: Users' batches' objective.
        kept_item_weight: Users' batches: the weight of the kept history items' loss terms.
    """

    examples: Literal["interactions", "users"]
    negatives: Literal["in_batch", "mixed", "full"]
    history_linear: bool
    user_loss: Literal["multinomial", "squared"]
    kept_item_weight: float

    @classmethod
    def of(cls, config: ModelConfig) -> Settled:
        """The choices of a settled config (a model saved before ``kept_item_weight`` existed
        reads as ``auto``, settled here by its rule).

        Raises:
            ConfigError: A choice still ``auto`` (the config did not go through
                ``resolve_examples``).
        """
        examples, negatives, linear, loss = (config.examples, config.negatives, config.history_linear,
                                             config.user_loss)
        if examples == "auto" or negatives == "auto" or linear == "auto" or loss == "auto":
            raise ConfigError("examples, negatives, history_linear and user_loss are settled for the data by "
                              "tfrec.model.training.build.resolve_examples before a model is built")
        kept = config.kept_item_weight
        return cls(examples, negatives, bool(linear), loss,
                   kept_item_weight_for(loss) if kept == "auto" else float(kept))
