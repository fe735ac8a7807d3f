"""Facet labels against the planes the particles were built from."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aet.analysis.facets import facet_areas, facets
from aet.analysis.lattice import fit_lattice
from aet.metrics.surface import surface_atoms
from aet.simulate.structures import cuboctahedron, truncated_octahedron


def _true_labels(pos: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Each surface atom's facet by construction: the outermost {100} and {111} planes it lies on ("edge" when on
    two or more). Built from the cube axes, independently of the hull."""
    families = {"{100}": [v for v in itertools.product([-1, 0, 1], repeat=3) if np.abs(v).sum() == 1],
                "{111}": list(itertools.product([-1, 1], repeat=3))}  # fmt: skip
    on = []
    for name, dirs in families.items():
        for v in dirs:
            p = pos @ (np.asarray(v, float) / np.linalg.norm(v))
            layer = p > p.max() - 0.3
            if layer.sum() >= 3:
                on.append((name, layer))
    count = np.sum([layer for _, layer in on], axis=0)
    labels = np.full(len(pos), "interior", dtype="<U10")
    labels[surface] = "high-index"
    for name, layer in on:
        labels[layer & (count == 1)] = name
    labels[count >= 2] = "edge"
    return labels


@pytest.mark.parametrize("build", [cuboctahedron, truncated_octahedron])
def test_facet_labels(build) -> None:  # type: ignore[no-untyped-def]
    pos = build("Pt", 3.5).positions
    surface = surface_atoms(pos)
    truth = _true_labels(pos, surface)
    assert set(truth[surface]) == {"{100}", "{111}", "edge"}
    turn = Rotation.from_euler("zyz", [20, 35, 50], degrees=True).as_matrix()
    for frame in (np.eye(3), turn):  # as built, and turned at random: the labels follow the fitted lattice
        moved = pos @ frame.T
        lattice, _ = fit_lattice(moved)
        labels, found = facets(moved, surface, np.zeros(len(pos), np.int64), {0: lattice.rotation}, 2.77)
        assert np.mean(labels[surface] == truth[surface]) >= 0.95
        areas = facet_areas(found)
        assert set(areas) == {"{100}", "{111}"}
        assert sum(f.family == "{111}" for f in found) == 8
