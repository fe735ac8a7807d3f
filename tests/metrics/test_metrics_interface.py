"""aet.metrics.interface_score: recall and precision of the atoms near a plane."""

from __future__ import annotations

import numpy as np
import pytest

from aet.errors import AetInputError
from aet.metrics import compare, interface_score


def test_interface_counts_what_lies_near_the_plane() -> None:
    truth = np.array([[x, y, z] for x in (0.0, 3.0, 6.0) for y in (0.0, 3.0) for z in (0.0, 2.0, 4.0, 6.0, 8.0)])
    model = truth[truth[:, 2] != 0.0] + 5.0  # the bottom layer lost, and the model in another origin
    model = np.vstack([model, [[5.0, 5.0, 2.5]]])  # an atom invented 2.5 Å below the bottom (where the film is)
    c = compare(model, truth)
    face = interface_score(c, model, truth, (0.0, 0.0, -1.0), band=3.0)  # layers z = 0 and 2 are in the band
    assert face.n_truth == 12 and face.recall == pytest.approx(0.5)
    assert face.n_model == 7 and face.precision == pytest.approx(6 / 7)
    assert face.to_dict()["band_A"] == 3.0


def test_interface_checks_its_plane() -> None:
    c = compare(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(AetInputError, match="normal"):
        interface_score(c, np.zeros((1, 3)), np.zeros((1, 3)), (0, 0, 0), normal=(0, 0, 0))
