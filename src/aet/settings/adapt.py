"""Settings of :func:`aet.nn.adapt.adapt` (``aet adapt``, and ``[adapt]`` of ``aet run``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aet.errors import AetUsageError
from aet.settings import Settings, setting


@dataclass(frozen=True)
class AdaptSettings(Settings):
    """How a shipped network is fine-tuned on one experiment (no ground truth: the measured projections only)."""

    minutes: float = setting(10.0, "Time budget of the whole adaptation (reconstructions included).", unit="min",
                             minimum=0.05)  # fmt: skip
    steps: int | None = setting(
        None, "A fixed number of optimiser steps instead of the time budget (reproducible); none: the budget.",
        minimum=1,
    )  # fmt: skip
    method: Literal["consistency", "split", "dewedge"] = setting(
        "consistency", "consistency: the output, projected, must match the images the input was reconstructed "
        "from; split: each half of the tilts is reconstructed and must predict the other half's images; dewedge: "
        "split with the input turned and a second wedge cut out (DeepDeWedge).",
        what="adaptation method",
    )  # fmt: skip
    prior_weight: float = setting(1.0, "Weight of the simulated pairs (the atomicity prior) against the images, each "
                                  "loss relative to its value before adapting.", minimum=0)  # fmt: skip
    prior_samples: int = setting(8, "Simulated particles drawn as the card's training data were (3 windows each).",
                                 minimum=0)  # fmt: skip
    lr: float = setting(3e-4, "AdamW learning rate.", minimum=0)
    check_fraction: float = setting(
        0.1, "Projections held out of the adaptation; the weights that predict them best are kept.", minimum=0.02,
        maximum=0.5,
    )  # fmt: skip
    checks: int = setting(20, "How many times the held-out projections are checked over the budget.", minimum=1)
    seed: int = setting(0, "Seed of the network's updates and of the simulated pairs.")

    def check(self) -> None:
        if self.lr <= 0:
            raise AetUsageError(f"lr must be positive, got {self.lr:g}.")
