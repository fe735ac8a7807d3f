"""Bond-orientational and Voronoi order against values known in closed form."""

from __future__ import annotations

import numpy as np

from aet.analysis.amorphous import icosahedral_fraction, steinhardt, voronoi_indices
from aet.analysis.neighbours import neighbour_list
from aet.metrics.surface import surface_atoms
from aet.simulate.structures import cuboctahedron, icosahedron


def test_fcc_cells_and_steinhardt_values() -> None:
    pos = cuboctahedron("Pt", 2.5).positions
    interior = ~surface_atoms(pos)
    index = voronoi_indices(pos, interior)
    assert len(index) == interior.sum()
    assert set(index.values()) == {(0, 12, 0, 0)}  # the rhombic dodecahedron
    q = steinhardt(pos, neighbour_list(pos, 3.3))
    np.testing.assert_allclose(q["q6"][interior], 0.5745, atol=1e-3)  # perfect fcc: q4 = 0.1909, q6 = 0.5745
    np.testing.assert_allclose(q["q4"][interior], 0.1909, atol=1e-3)


def test_icosahedron_centre_is_a_full_icosahedron() -> None:
    pos = icosahedron("Pt", 2.0).positions
    centre = int(np.argmin(np.linalg.norm(pos - pos.mean(0), axis=1)))
    only_centre = np.zeros(len(pos), bool)
    only_centre[centre] = True
    index = voronoi_indices(pos, only_centre)
    assert index == {centre: (0, 0, 12, 0)}
    assert icosahedral_fraction(index) == 1.0
