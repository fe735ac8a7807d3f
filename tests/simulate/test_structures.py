"""Structure builders: atom counts, densities and nearest-neighbour distances match the lattice."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Voronoi, cKDTree

from aet.errors import AetInputError
from aet.simulate import structures as st

PT_NN = 3.92 / np.sqrt(2)  # 2.772 Å
FCC_DENSITY = 4 / 3.92**3  # atoms / Å³


def nn_distances(pos: np.ndarray) -> np.ndarray:
    d, _ = cKDTree(pos).query(pos, k=2)
    return d[:, 1]


def core_density(pos: np.ndarray, depth: float = 6.0) -> float:
    """Number density (atoms/Å³) = 1 / mean Voronoi-cell volume of the atoms ``depth`` Å inside the surface."""
    hull = ConvexHull(pos)
    below_surface = -(pos @ hull.equations[:, :3].T + hull.equations[:, 3]).max(axis=1)
    vor = Voronoi(pos)
    inner = np.flatnonzero(below_surface > depth)
    vols = [ConvexHull(vor.vertices[vor.regions[vor.point_region[i]]]).volume for i in inner]
    return 1.0 / float(np.mean(vols))


@pytest.mark.parametrize(
    ("shape", "count"),
    # closed-shell magic numbers: cuboctahedron 10k³/3 + 5k² + 11k/3 + 1, Mackay icosahedron likewise
    [
        ("cuboctahedron", 2057),
        ("icosahedron", 1415),
        ("octahedron", None),
        ("decahedron", None),
        ("truncated-octahedron", None),
        ("wulff", None),
        ("sphere", None),
        ("random", None),
    ],
)
def test_crystalline_pt(shape, count):
    model = st.SHAPES[shape]("Pt", 3.0)
    pos = model.positions
    assert np.allclose(pos.mean(axis=0), 0, atol=1e-9)
    if count is not None:
        assert len(model) == count
    nn = nn_distances(pos)
    assert np.median(nn) == pytest.approx(PT_NN, abs=0.01)
    if shape != "icosahedron":  # icosahedra are strained by construction: intra-shell distances 5 % longer
        assert nn.min() == pytest.approx(PT_NN, abs=0.01)
    if shape not in ("random", "octahedron"):
        # icosahedra trade ~6 % density for their twin strain
        assert core_density(pos) == pytest.approx(FCC_DENSITY, rel=0.1 if shape == "icosahedron" else 0.02)


def test_bcc_hcp_spheres():
    fe = st.sphere("Fe", 2.0)
    assert np.median(nn_distances(fe.positions)) == pytest.approx(2.87 * np.sqrt(3) / 2, abs=0.01)
    mg = st.sphere("Mg", 2.0)
    assert np.median(nn_distances(mg.positions)) == pytest.approx(3.21, abs=0.02)


def test_amorphous_density_and_minimum_distance():
    model = st.amorphous("Pt", 3.0, seed=1)
    nn = nn_distances(model.positions)
    assert nn.min() >= 0.85 * PT_NN - 1e-6
    assert core_density(model.positions) == pytest.approx(FCC_DENSITY, rel=0.1)
    with pytest.raises(AetInputError, match="do not fit"):
        st.amorphous("Pt", 2.0, min_distance=3.5)


def test_fept_l10_layers():
    model = st.build_model("cuboctahedron", ["Fe", "Pt"], 2.5, "l10", lattice_constant=3.85)
    el = np.array(model.elements)
    layer = np.rint(model.positions[:, 2] / (3.85 / 2)).astype(int)
    assert set(el[layer % 2 == 0]) == {"Fe"} and set(el[layer % 2 == 1]) == {"Pt"}
    assert 0.4 < np.mean(el == "Pt") < 0.6
    assert np.median(nn_distances(model.positions)) == pytest.approx(3.85 / np.sqrt(2), abs=0.01)


def test_core_shell_and_random_alloy():
    model = st.build_model("cuboctahedron", ["Pd", "Pt"], 3.0, "core-shell", shell_thickness=4.0)
    r = np.linalg.norm(model.positions, axis=1)
    el = np.array(model.elements)
    assert r[el == "Pt"].min() > r[el == "Pd"].max() - 1e-9
    alloy = st.build_model("sphere", ["Ni", "Pt"], 3.0, "random", fractions=[0.25, 0.75], seed=2)
    assert np.mean(np.array(alloy.elements) == "Ni") == pytest.approx(0.25, abs=0.05)


def test_vacancies_thermal_support():
    base = st.cuboctahedron("Pt", 2.2)
    holed = st.vacancies(base, 0.1, seed=0)
    assert len(holed) == pytest.approx(0.9 * len(base), abs=0.04 * len(base))
    shaken = st.thermal_displacement(base, 0.1, seed=0)
    assert np.std(shaken.positions - base.positions) == pytest.approx(0.1, rel=0.1)
    sup = st.on_support(base, thickness=10.0)
    assert sup.labels is not None and (sup.labels == 0).sum() == len(base)
    film = sup.positions[sup.labels == 1]
    assert film[:, 2].max() < base.positions[:, 2].min()
    assert set(np.array(sup.elements)[sup.labels == 1]) == {"C"}


def test_builder_errors():
    with pytest.raises(AetInputError, match="unknown structure"):
        st.build_model("cube", ["Pt"], 2)
    with pytest.raises(AetInputError, match="not a chemical element"):
        st.build_model("sphere", ["Pq"], 2)
    with pytest.raises(AetInputError, match="need a chemistry"):
        st.build_model("sphere", ["Fe", "Pt"], 2)
    with pytest.raises(AetInputError, match="is bcc, not fcc"):
        st.cuboctahedron("Fe", 2)
