"""Structure types (adaptive CNA), twin planes and grains on particles whose truth is known by construction."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

from aet.analysis.structure import BCC, FCC, HCP, OTHER, grains, planar_defects, structure_types
from aet.metrics.surface import surface_atoms
from aet.simulate.structures import cuboctahedron, decahedron, icosahedron, sphere


def test_fcc_interior_is_fcc_even_with_noise() -> None:
    pos = cuboctahedron("Pt", 4.0).positions
    interior = ~surface_atoms(pos)
    assert np.mean(structure_types(pos)[interior] == FCC) == 1.0
    noisy = pos + np.random.default_rng(0).normal(0, 0.05 / np.sqrt(3), pos.shape)  # 5 pm RMS
    assert np.mean(structure_types(noisy)[interior] == FCC) >= 0.99


def _decahedron_twin_atoms(pos: np.ndarray) -> np.ndarray:
    """Atoms on the five twin planes, which contain the five-fold axis (z): off the axis, at the five azimuths
    shared by the most atoms, which must be 72° apart."""
    r = np.hypot(pos[:, 0], pos[:, 1])
    phi = np.round(np.degrees(np.arctan2(pos[:, 1], pos[:, 0])), 3)
    off = r > 0.5
    values, counts = np.unique(phi[off], return_counts=True)
    planes = np.sort(values[np.argsort(-counts)[:5]])
    np.testing.assert_allclose(np.diff(planes), 72.0, atol=0.01)
    return off & np.isin(phi, planes)


def _icosahedron_twin_atoms(pos: np.ndarray) -> np.ndarray:
    """Atoms on the 30 twin planes between adjacent tetrahedra: in the sector spanned by two adjacent vertex
    directions (63.4° apart), off the centre and the five-fold axes."""
    d = np.linalg.norm(pos, axis=1)
    vertices = pos[np.argsort(-d)[:12]] / d.max()
    out = np.zeros(len(pos), bool)
    on_axis = np.zeros(len(pos), bool)
    for v in vertices:
        on_axis |= np.linalg.norm(np.cross(pos, v), axis=1) < 0.3
    for v1, v2 in itertools.combinations(vertices, 2):
        if abs(np.degrees(np.arccos(np.clip(v1 @ v2, -1, 1))) - 63.43) > 1:
            continue
        n = np.cross(v1, v2)
        n /= np.linalg.norm(n)
        coef = np.linalg.lstsq(np.stack([v1, v2], 1), pos.T, rcond=None)[0]
        out |= (np.abs(pos @ n) < 0.3) & (coef > 0).all(0)
    return out & ~on_axis & (d > 0.5)


def test_twin_planes_of_decahedron_and_icosahedron_are_found() -> None:
    for model, truth in ((decahedron("Pt", 4.0), _decahedron_twin_atoms),
                         (icosahedron("Pt", 4.0), _icosahedron_twin_atoms)):  # fmt: skip
        pos = model.positions
        interior = ~surface_atoms(pos)
        # twin-plane atoms with all 12 neighbours: the bottoms of a Marks decahedron's re-entrant grooves are twin
        # atoms with 10 neighbours (too narrow for the α-shape probe, so "interior"), which no 12-neighbour
        # signature describes
        full = np.array([len(n) for n in cKDTree(pos).query_ball_point(pos, 1.207 * 2.77)]) == 13
        twin = truth(pos) & interior & full
        assert twin.sum() > 50
        types = structure_types(pos)
        assert np.mean(types[twin] == HCP) >= 0.95
        assert np.mean(planar_defects(pos, types)[twin] == "twin") >= 0.95
        # and no fcc-segment atom is called hcp
        assert np.mean(types[interior & ~twin] == HCP) <= 0.01


def test_grains_of_a_decahedron_are_its_five_segments() -> None:
    pos = decahedron("Pt", 4.0).positions
    types = structure_types(pos)
    label = grains(pos, types, 1.207 * 2.77)
    sizes = np.bincount(label[label >= 0])
    assert len(sizes) == 5
    assert sizes.min() > 0.8 * sizes.max()


def test_bcc_particle() -> None:
    """A bcc Fe sphere: every atom with its full first and second shells (8 + 6) is bcc, and nothing else is
    crystalline; atoms under the surface lack second neighbours and are "other"."""
    pos = sphere("Fe", 3.5).positions
    d, _ = cKDTree(pos).query(pos, k=15)
    full = d[:, 14] < 1.1 * 2.87  # the 14th neighbour is the sixth second-shell one, at a = 2.87 Å
    types = structure_types(pos)
    assert np.all(types[full] == BCC)
    assert set(np.unique(types)) <= {OTHER, BCC}
