"""Strain maps against imposed strain fields: uniform 1 % tension and a linear strain gradient along x."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aet.analysis.lattice import fit_lattice, in_lattice_frame, strain_tensors
from aet.metrics.surface import surface_atoms
from aet.simulate.structures import _fcc_a, cuboctahedron, sphere

A = _fcc_a("Pt", None)
GRADIENT = 5e-4  # εxx = GRADIENT · x (Å⁻¹): 0 at the centre, ±1.1 % at the faces of a 4.5 nm particle


def _strained(kind: str, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strained positions and the true εxx of each atom."""
    if kind == "uniform":
        return pos * [1.01, 1.0, 1.0], np.full(len(pos), 0.01)
    return pos + np.c_[0.5 * GRADIENT * pos[:, 0] ** 2, np.zeros((len(pos), 2))], GRADIENT * pos[:, 0]


@pytest.fixture(scope="module")
def particle() -> tuple[np.ndarray, np.ndarray]:
    pos = cuboctahedron("Pt", 4.5).positions
    return pos, ~surface_atoms(pos)


@pytest.mark.parametrize("kind", ["uniform", "gradient"])
def test_strain_map_matches_imposed_strain(particle: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    pos, interior = particle
    strained, true = _strained(kind, pos)
    lattice, sites = fit_lattice(strained, "fcc", A)
    eps, _ = strain_tensors(strained, lattice, sites)
    assert np.abs(eps[interior, 0, 0] - true[interior]).max() <= 0.001
    assert np.abs(eps[interior, 1, 1]).max() <= 0.001  # nothing invented across the pull
    # 10 pm RMS position noise: every interior atom within ±0.3 %
    noisy = strained + np.random.default_rng(1).normal(0, 0.1 / np.sqrt(3), pos.shape)
    lattice, sites = fit_lattice(noisy, "fcc", A)
    err = strain_tensors(noisy, lattice, sites)[0][interior, 0, 0] - true[interior]
    print(kind, np.abs(err).max(), np.sqrt(np.mean(err**2)))
    assert np.abs(err).max() <= 0.003
    assert np.sqrt(np.mean(err**2)) <= 0.001


def test_lattice_found_in_any_orientation(particle: tuple[np.ndarray, np.ndarray]) -> None:
    """A particle turned at random, pulled 1 % along the model's x: εxx is 1 % in the model's frame, and the
    crystal-frame tensor is the same tensor along the fitted cube axes."""
    pos, interior = particle
    turn = Rotation.from_euler("zyz", [33, 47, 71], degrees=True).as_matrix()
    strained = (pos @ turn.T) * [1.01, 1.0, 1.0]
    lattice, sites = fit_lattice(strained)  # lattice constant fitted: the mean dilatation is taken out
    assert lattice.a == pytest.approx(A * 1.01 ** (1 / 3), rel=1e-3)
    assert lattice.rms_misfit < 0.2
    lattice, sites = fit_lattice(strained, "fcc", A)
    eps, _ = strain_tensors(strained, lattice, sites)
    assert np.abs(eps[interior, 0, 0] - 0.01).max() <= 0.001
    crystal = in_lattice_frame(eps, lattice)
    expected = lattice.rotation.T @ np.diag([0.01, 0, 0]) @ lattice.rotation
    np.testing.assert_allclose(np.median(crystal[interior], axis=0), expected, atol=5e-4)


def test_bcc_lattice_and_strain() -> None:
    pos = sphere("Fe", 3.5).positions  # ASE's Fe: a = 2.87 Å
    interior = ~surface_atoms(pos)
    turn = Rotation.from_euler("zyz", [10, 20, 30], degrees=True).as_matrix()
    strained = (pos @ turn.T) * [1.01, 1.0, 1.0]
    lattice, sites = fit_lattice(strained, "bcc", 2.87)
    assert np.all(sites % 2 == sites[:, :1] % 2)  # bcc sites: all indices even or all odd (units of a/2)
    eps, _ = strain_tensors(strained, lattice, sites)
    assert np.abs(eps[interior, 0, 0] - 0.01).max() <= 0.001
