"""An ideal lattice fitted to a crystal grain, and the local strain tensor of every atom against it.

Conventions: positions in Å in the model's frame (x, y, z). ``rotation`` has the crystal axes [100], [010], [001]
as columns, so a crystal vector v maps to ``rotation @ v`` in the model's frame. Strain is the small-strain
(infinitesimal) tensor ε = ½(∇u + ∇uᵀ) of the displacement u from the ideal site, in the model's frame unless
said otherwise; 0.01 is 1 % tension.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from aet.analysis.neighbours import SHELL_FACTOR, median_nn_distance
from aet.errors import AetInputError

#: Nearest-neighbour vectors of each lattice, in units of the lattice constant.
_NN = {
    "fcc": np.array([p for p in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T
                     if np.abs(p).sum() == 2], dtype=float) / 2,
    "bcc": np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T.astype(float) / 2,
}  # fmt: skip
#: Lattice constant per nearest-neighbour distance.
_A_PER_NN = {"fcc": 2**0.5, "bcc": 2 / 3**0.5}


@dataclass
class Lattice:
    """An ideal lattice: structure, constant ``a`` (Å), orientation and the position (Å) of one site."""

    structure: str
    a: float
    rotation: npt.NDArray[np.float64]
    origin: npt.NDArray[np.float64]
    rms_misfit: float  # Å, atoms against their ideal sites

    def site_positions(self, sites: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Ideal positions (Å) of sites given as integer indices in units of a/2."""
        return np.asarray(self.origin + (self.a / 2) * sites @ self.rotation.T, dtype=np.float64)


def _orientation(pos: npt.NDArray[np.float64], structure: str, nn: float) -> npt.NDArray[np.float64]:
    """Crystal orientation from the bond directions: the most common one, then the most common at the lattice's
    angle to it (60° fcc, 70.5° bcc), aligned with two ideal bonds, then all bonds by a Kabsch fit."""
    ideal = _NN[structure] / np.linalg.norm(_NN[structure], axis=1, keepdims=True)
    # first-shell bonds only: halfway to the second shell (√2 × nn in fcc, 2/√3 × nn in bcc)
    reach = SHELL_FACTOR if structure == "fcc" else (1 + 2 / 3**0.5) / 2
    pairs = cKDTree(pos).query_pairs(reach * nn, output_type="ndarray")
    if len(pairs) < 6:
        raise AetInputError("too few bonds to fit a lattice; the grain needs at least a few unit cells of atoms.")
    rng = np.random.default_rng(0)
    if len(pairs) > 20000:
        pairs = pairs[rng.choice(len(pairs), 20000, replace=False)]
    u = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    probe = u[rng.choice(len(u), min(len(u), 400), replace=False)]
    cos = np.abs(probe @ u.T)
    first = probe[np.argmax((cos > np.cos(np.radians(8))).sum(1))]
    e1 = ideal[0]
    target = 0.5 if structure == "fcc" else 1 / 3
    near = u[np.abs(np.abs(u @ first) - target) < 0.12]
    if len(near) == 0:
        raise AetInputError(f"the bonds show no {structure} pattern; is this grain really {structure}?")
    near = near * np.sign(near @ first)[:, None]  # at +target to the first direction
    candidates = near[rng.choice(len(near), min(len(near), 400), replace=False)]
    second = candidates[np.argmax((candidates @ near.T > np.cos(np.radians(8))).sum(1))]
    # Two bonds fix the orientation only up to a twin (mirror in the {111} plane they span); keep the candidate
    # that fits every bond best.
    fits = [Rotation.align_vectors(np.stack([first, second]), np.stack([e1, e2]))[0]
            for e2 in ideal if abs(e2 @ e1 - target) < 1e-6]  # fmt: skip
    rot = max(fits, key=lambda r: float(np.max(r.inv().apply(u) @ ideal.T, axis=1).mean()))
    for _ in range(3):
        crystal = rot.inv().apply(u)
        match = ideal[np.argmax(crystal @ ideal.T, axis=1)]
        rot, _ = Rotation.align_vectors(u, match)
    return np.asarray(rot.as_matrix(), dtype=np.float64)


def fit_lattice(
    positions: npt.NDArray[np.float64], structure: str = "fcc", lattice_constant: float | None = None
) -> tuple[Lattice, npt.NDArray[np.int64]]:
    """Fit an ideal ``structure`` lattice to the atoms of one grain; returns it and every atom's site.

    Sites are integer indices in units of a/2 (fcc sites have an even index sum). ``lattice_constant`` (Å) is
    fitted when not given; strain is then measured from the grain's own mean lattice, so its mean dilatation is
    about zero. Give the bulk constant to see a uniform expansion or contraction.
    """
    if structure not in _NN:
        raise AetInputError(f"lattices are fitted for fcc and bcc grains, not {structure!r}.")
    pos = np.asarray(positions, dtype=np.float64)
    nn = median_nn_distance(pos)
    rot = _orientation(pos, structure, nn)
    a = float(lattice_constant) if lattice_constant else _A_PER_NN[structure] * nn
    origin = pos[np.argmin(np.linalg.norm(pos - pos.mean(0), axis=1))]
    for _ in range(4):
        sites = np.rint((pos - origin) @ rot / (a / 2)).astype(np.int64)
        ideal = sites / 2.0
        # Umeyama/Procrustes fit of r ≈ a·R·p + t, with a fixed when given.
        pc, rc = ideal - ideal.mean(0), pos - pos.mean(0)
        u, s, vt = np.linalg.svd(rc.T @ pc)
        d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
        rot = u @ d @ vt
        if not lattice_constant:
            a = float(np.trace(np.diag(s) @ d) / (pc**2).sum())
        origin = pos.mean(0) - a * rot @ ideal.mean(0)
    lat = Lattice(structure, a, rot, origin, 0.0)
    lat.rms_misfit = float(np.sqrt(((pos - lat.site_positions(sites)) ** 2).sum(1).mean()))
    return lat, sites


def _monomials(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The 10 monomials of degree ≤ 2 in x, y, z ``[N, 10]`` and their derivatives ``[N, 10, 3]``."""
    n = len(x)
    one, zero = np.ones(n), np.zeros(n)
    px, py, pz = x.T
    values = np.stack([one, px, py, pz, px * px, py * py, pz * pz, px * py, px * pz, py * pz], axis=1)
    derivs = np.stack([
        np.stack([zero, zero, zero], 1), np.stack([one, zero, zero], 1), np.stack([zero, one, zero], 1),
        np.stack([zero, zero, one], 1), np.stack([2 * px, zero, zero], 1), np.stack([zero, 2 * py, zero], 1),
        np.stack([zero, zero, 2 * pz], 1), np.stack([py, px, zero], 1), np.stack([pz, zero, px], 1),
        np.stack([zero, pz, py], 1),
    ], axis=1)  # fmt: skip
    return values, derivs


#: Default smoothing radius of the strain maps, in lattice constants, and how far it may grow near the surface.
STRAIN_RADIUS_A = 3.5
GROWTH = (1.25, 1.5, 1.75, 2.0, 2.5)
#: An atom's strain may be this many times noisier (in variance) than a bulk atom's at the default radius.
NOISE_ALLOWANCE = 1.5


Array = npt.NDArray[np.float64]


def _local_fit(ideal: Array, disp: Array, rows: npt.NDArray[np.int64], radius: float,
               min_neighbours: int) -> tuple[Array, Array]:  # fmt: skip
    """Gradient ``[len(rows), 3, 3]`` of a quadratic fit of ``disp`` within ``radius`` Å of each atom ``rows``, and
    the fit's noise factor: the mean variance of the three normal strains per unit variance of the positions.

    The per-atom normal equations are sums over neighbours of fixed per-atom products, so they are one sparse
    matrix product (neighbour indicator × monomial products): 100,000 atoms take seconds.
    """
    x = (ideal - ideal.mean(0)) / radius  # polynomials of degree ≤ 2 span the same space about any centre
    near = cKDTree(ideal[rows]).sparse_distance_matrix(cKDTree(ideal), radius, output_type="coo_matrix").tocsr()
    near.data[:] = 1.0
    near = near + csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=near.shape)  # self, left out
    m, dm = _monomials(x)
    upper = np.triu_indices(10)  # the normal matrices are symmetric: sum the 55 distinct products only
    flat = np.asarray(near @ (m[:, upper[0]] * m[:, upper[1]]))
    normal = np.zeros((len(rows), 10, 10))
    normal[:, upper[0], upper[1]] = flat
    normal[:, upper[1], upper[0]] = flat
    rhs = np.asarray(near @ (m[:, :, None] * disp[:, None, :]).reshape(len(x), -1)).reshape(-1, 10, 3)
    ok = np.asarray(near.sum(1)).ravel() >= min_neighbours
    normal[~ok] = np.eye(10)
    deriv = dm[rows]  # [k, monomial, direction]
    coef = np.linalg.solve(normal, np.concatenate([rhs, deriv], axis=2))
    grad = np.einsum("nbc,nbd->ncd", coef[:, :, :3], deriv) / radius  # grad[n, c, d] = ∂u_c/∂x_d
    noise = np.einsum("nbd,nbd->n", deriv, coef[:, :, 3:]) / 3 / radius**2
    grad[~ok] = np.nan
    noise[~ok] = np.inf
    return grad, noise


def _bulk_noise(lattice: Lattice, radius: float) -> float:
    """The noise factor of an atom deep inside a perfect crystal of this lattice, for ``radius`` Å."""
    k = int(np.ceil(2 * radius / lattice.a)) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-k, k + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[(grid.sum(1) % 2 == 0) if lattice.structure == "fcc" else (grid % 2 == grid[:, :1] % 2).all(1)]
    ball = grid[np.linalg.norm(grid, axis=1) * lattice.a / 2 <= radius + lattice.a]
    ideal = ball * lattice.a / 2.0
    centre = np.flatnonzero((ball == 0).all(1))
    return float(_local_fit(ideal, np.zeros_like(ideal), centre, radius, 1)[1][0])


def strain_tensors(
    positions: npt.NDArray[np.float64],
    lattice: Lattice,
    sites: npt.NDArray[np.int64],
    radius: float | None = None,
    min_neighbours: int = 20,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Local small-strain tensor ``[N, 3, 3]`` of each atom, in the model's frame, and the radius (Å) used for it.

    The displacement field u (atom − ideal site) is fitted around each atom by a quadratic polynomial of the ideal
    positions within a radius; ε is the symmetric part of the fit's gradient at the atom. The quadratic terms keep
    a linear strain gradient exact where an atom's neighbourhood is one-sided (under the surface).

    With ``radius`` given (Å), every atom uses it. By default (``None``) the radius is 3.5 a (~1.4 nm) where that
    gives a map about as precise as in the bulk, and grows (up to 8.75 a) for atoms near the surface until their
    strain's variance is at most 1.5 times a bulk atom's: a one-sided neighbourhood makes a sub-surface atom's strain
    about 4 times noisier. With 10 pm of position noise the map is then within ±0.3 % everywhere inside a 4.5 nm
    particle (worst 0.22 % over 16 noise draws; docs/benchmarks.md has the figures for other radii). The noise
    factor comes from the fit's own normal equations, not from the data; the radius used is returned per atom.
    Atoms with fewer than ``min_neighbours`` atoms within the radius get NaN.
    """
    pos = np.asarray(positions, dtype=np.float64)
    ideal = lattice.site_positions(sites)
    disp = pos - ideal
    n = len(pos)
    base = radius or STRAIN_RADIUS_A * lattice.a
    grad, noise = _local_fit(ideal, disp, np.arange(n), base, min_neighbours)
    used = np.full(n, base)
    if radius is None:
        target = NOISE_ALLOWANCE * _bulk_noise(lattice, base)
        for factor in GROWTH:
            rows = np.flatnonzero(noise > target)
            if len(rows) == 0:
                break
            grad[rows], noise[rows] = _local_fit(ideal, disp, rows, base * factor, min_neighbours)
            used[rows] = base * factor
    eps = 0.5 * (grad + np.transpose(grad, (0, 2, 1)))
    return np.asarray(eps, dtype=np.float64), used


def in_lattice_frame(tensors: npt.NDArray[np.float64], lattice: Lattice) -> npt.NDArray[np.float64]:
    """Tensors ``[N, 3, 3]`` re-expressed along the crystal axes [100], [010], [001]."""
    r = lattice.rotation
    return np.asarray(np.einsum("ji,njk,kl->nil", r, tensors, r), dtype=np.float64)
