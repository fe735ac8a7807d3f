"""Chemical order: L1₀ order parameter and Warren–Cowley α of ordered and random FePt particles."""

from __future__ import annotations

import numpy as np

from aet.analysis.analyse import analyse
from aet.analysis.chemistry import radial_profile, warren_cowley
from aet.simulate.structures import core_shell, cuboctahedron, order_l10, random_alloy

A_FEPT = 3.85


def test_ordered_and_random_fept() -> None:
    base = cuboctahedron("Pt", 4.0, A_FEPT)
    ordered = analyse(order_l10(base, "Fe", "Pt", A_FEPT), progress=False).summary["chemistry"]
    assert ordered["l10_order"]["S"] >= 0.98
    assert abs(abs(ordered["l10_order"]["c_axis_model"][2]) - 1) < 1e-6  # built with (001) planes along z
    assert ordered["warren_cowley"]["Fe-Pt"][0] < -0.25  # 8 of 12 unlike neighbours: α₁ = −1/3
    rnd = analyse(random_alloy(base, ["Fe", "Pt"], [0.5, 0.5], seed=3), progress=False).summary["chemistry"]
    assert abs(rnd["l10_order"]["S"]) <= 0.05
    for pair in ("Fe-Fe", "Fe-Pt", "Pt-Pt"):
        assert abs(rnd["warren_cowley"][pair][0]) <= 0.03


def test_warren_cowley_sees_clustering_and_core_shell_profile() -> None:
    base = cuboctahedron("Pt", 4.0)
    shelled = core_shell(base, "Pd", "Pt", 4.0)
    alpha = warren_cowley(shelled.positions, shelled.elements, [(0.0, 3.3)])
    assert alpha["Pd-Pt"][0] > 0.3  # fewer unlike neighbours than at random: segregated
    profile = radial_profile(shelled.positions, shelled.elements)
    assert profile["Pd"][0] == 1.0 and profile["Pt"][-1] == 1.0
    assert np.all(np.diff(profile["Pt"]) >= -1e-9)  # Pt fraction grows outwards
