"""Time series of one particle: EMT dynamics, surface hops, vacancy hops, swaps and rigid motion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError
from aet.metrics.tracking import true_displacements
from aet.simulate.dynamics import Evolution, evolve
from aet.simulate.structures import order_l10, truncated_octahedron, vacancies


@pytest.fixture(scope="module")
def pt_series():
    model = truncated_octahedron("Pt", 1.6)
    return evolve(model, 3, Evolution(md_ps=0.05, adatoms=3, surface_hops=2, seed=1), progress=False)


def test_pt_series_keeps_atoms_and_hops_on_the_surface(pt_series):
    first = pt_series[0]
    for model in pt_series:
        assert len(model) == len(first) and model.elements == first.elements
    for earlier, later in zip(pt_series[:-1], pt_series[1:], strict=True):
        hops = [e for e in later.metadata["events"] if e["kind"] == "surface_hop"]
        assert len(hops) == 2
        moved = np.linalg.norm(true_displacements(earlier, later), axis=1)
        for e in hops:
            # the hop survives the EMT quench: 0.5–2 Å, and the atom is among the few that moved that far
            assert 0.5 <= e["distance_A"][0] <= 2.0
            assert moved[e["atoms"][0]] == pytest.approx(e["distance_A"][0], abs=0.02)
        assert np.sum(moved > 0.5) == len(hops)  # nothing else hopped; MD relaxations stay small
        assert np.median(moved) < 0.05


def test_rigid_motion_between_steps(pt_series):
    for earlier, later in zip(pt_series[:-1], pt_series[1:], strict=True):
        r1, r2 = np.asarray(earlier.metadata["rotation"]), np.asarray(later.metadata["rotation"])
        assert np.degrees(Rotation.from_matrix(r2 @ r1.T).magnitude()) == pytest.approx(2.0, abs=1e-6)
        step = np.asarray(later.metadata["shift_A"]) - np.asarray(earlier.metadata["shift_A"])
        assert np.linalg.norm(step) == pytest.approx(5.0, abs=1e-6)
        assert np.linalg.norm(later.metadata["shift_A"]) <= 7.5 + 1e-9


def test_swaps_and_vacancy_hops_without_md():
    model = vacancies(order_l10(truncated_octahedron("Pt", 2.0, 3.85), "Fe", "Pt", 3.85), 0.03, seed=2)
    series = evolve(model, 2, Evolution(md_ps=0, adatoms=0, surface_hops=0, swaps=2, vacancy_hops=2, seed=4),
                    progress=False)  # fmt: skip
    events = series[1].metadata["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("swap") == 2 and kinds.count("vacancy_hop") == 2
    nn = 3.85 / 2**0.5
    for e in events:
        assert e["distance_A"] == pytest.approx([nn] * len(e["atoms"]), abs=0.05)  # one bond
        if e["kind"] == "swap":
            i, j = e["atoms"]
            assert series[0].elements[i] != series[0].elements[j]
    assert len({i for e in events for i in e["atoms"]}) == 6  # each atom takes part in one event at most


def test_md_refuses_elements_emt_does_not_describe():
    model = order_l10(truncated_octahedron("Pt", 1.6, 3.85), "Fe", "Pt", 3.85)
    with pytest.raises(AetInputError, match="md_ps = 0"):
        evolve(model, 2, Evolution(md_ps=0.1), progress=False)
    with pytest.raises(AetInputError, match="at least one step"):
        evolve(model, 0, progress=False)
