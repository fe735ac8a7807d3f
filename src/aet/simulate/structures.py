"""Atomic-model builders on ASE: crystalline particles, twins, alloys, core–shell, defects, amorphous, support.

Every builder returns an :class:`~aet.model.AtomicModel` in Å centred on the origin (the rotation centre).
Sizes are diameters in nm. Lattices come from ASE's reference states (e.g. Pt fcc a = 3.92 Å) unless a
lattice constant is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.cluster import Decahedron, Icosahedron, Octahedron, wulff_construction
from ase.data import atomic_numbers, reference_states
from scipy.spatial import cKDTree

from aet.elements import check_symbols
from aet.errors import AetInputError
from aet.model import AtomicModel


def _centred(atoms: Atoms) -> AtomicModel:
    model = AtomicModel.from_ase(atoms)
    model.positions = model.positions - model.positions.mean(axis=0)
    return model


def lattice(element: str, lattice_constant: float | None = None) -> tuple[str, float]:
    """(structure, a in Å) of an element's reference crystal, e.g. ('fcc', 3.92) for Pt."""
    (element,) = check_symbols([element], unknown=False)
    state = reference_states[atomic_numbers[element]] or {}
    sym = state.get("symmetry")
    a = lattice_constant or state.get("a")
    if sym not in ("fcc", "bcc", "hcp", "diamond", "sc") or a is None:
        raise AetInputError(
            f"{element} has no simple crystal reference structure in ASE ({sym}); give structure and "
            "lattice_constant explicitly, or use an amorphous particle."
        )
    return sym, float(a)


def _grow(make: Callable[[int], Atoms], size_nm: float, start: int = 1) -> Atoms:
    """Smallest particle from ``make(k)`` (k = 1, 2, ...) whose diameter reaches ``size_nm``."""
    target = size_nm * 10.0
    for k in range(start, 200):
        atoms = make(k)
        pos = atoms.get_positions()
        if np.ptp(pos, axis=0).max() >= target * 0.98:
            return atoms
    raise AetInputError(f"could not grow a particle of {size_nm} nm; is the size sensible (0.5–50 nm)?")


def cuboctahedron(element: str, size_nm: float, lattice_constant: float | None = None) -> AtomicModel:
    """fcc cuboctahedron of about ``size_nm`` diameter."""
    a = _fcc_a(element, lattice_constant)
    return _centred(_grow(lambda k: Octahedron(element, 2 * k + 1, k, latticeconstant=a), size_nm))


def octahedron(element: str, size_nm: float, lattice_constant: float | None = None) -> AtomicModel:
    """Regular fcc octahedron."""
    a = _fcc_a(element, lattice_constant)
    return _centred(_grow(lambda k: Octahedron(element, k + 1, 0, latticeconstant=a), size_nm))


def truncated_octahedron(element: str, size_nm: float, lattice_constant: float | None = None) -> AtomicModel:
    """fcc truncated octahedron (length = 3·cutoff + 1)."""
    a = _fcc_a(element, lattice_constant)
    return _centred(_grow(lambda k: Octahedron(element, 3 * k + 1, k, latticeconstant=a), size_nm))


def decahedron(element: str, size_nm: float, lattice_constant: float | None = None) -> AtomicModel:
    """Five-fold twinned Marks decahedron."""
    a = _fcc_a(element, lattice_constant)
    return _centred(_grow(lambda k: Decahedron(element, k + 1, k + 1, 1 if k > 1 else 0, latticeconstant=a), size_nm))


def icosahedron(element: str, size_nm: float, lattice_constant: float | None = None) -> AtomicModel:
    """Mackay icosahedron (twenty twinned tetrahedra)."""
    a = _fcc_a(element, lattice_constant)
    return _centred(_grow(lambda k: Icosahedron(element, k + 1, latticeconstant=a), size_nm))


def wulff(
    element: str,
    size_nm: float,
    surface_energies: dict[tuple[int, int, int], float] | None = None,
    lattice_constant: float | None = None,
) -> AtomicModel:
    """Wulff-shaped fcc/bcc particle of about ``size_nm`` diameter (surface energies relative, J/m²)."""
    sym, a = lattice(element, lattice_constant)
    if sym not in ("fcc", "bcc"):
        raise AetInputError(f"Wulff shapes are built for fcc and bcc crystals; {element} is {sym}.")
    energies = surface_energies or {(1, 1, 1): 1.0, (1, 0, 0): 1.15, (1, 1, 0): 1.25}
    n_atoms = int(np.pi / 6 * (size_nm * 10) ** 3 / _atomic_volume(sym, a))
    atoms = wulff_construction(
        element, list(energies), list(energies.values()), max(n_atoms, 13), sym, latticeconstant=a
    )
    return _centred(atoms)


def _fcc_a(element: str, lattice_constant: float | None) -> float:
    sym, a = lattice(element, lattice_constant)
    if sym != "fcc" and lattice_constant is None:
        raise AetInputError(f"{element} is {sym}, not fcc; give the fcc lattice_constant to build it as fcc.")
    return a


def _atomic_volume(sym: str, a: float) -> float:
    per_cell = {"fcc": 4, "bcc": 2, "sc": 1, "diamond": 8}.get(sym)
    if sym == "hcp":
        return np.sqrt(3) / 2 * a**2 * 1.633 * a / 2
    return a**3 / per_cell


def _bulk_block(element: str, radius: float, structure: str | None, lattice_constant: float | None) -> Atoms:
    sym, a = lattice(element, lattice_constant)
    sym = structure or sym
    cell = bulk(element, sym, a=a, cubic=sym != "hcp")
    reps = [int(np.ceil(2 * radius / np.linalg.norm(v))) + 2 for v in cell.cell]
    block = cell.repeat(reps)
    block.translate(-block.get_positions().mean(axis=0))
    return block


def sphere(
    element: str, size_nm: float, structure: str | None = None, lattice_constant: float | None = None
) -> AtomicModel:
    """A crystalline sphere (fcc, bcc, hcp or diamond) cut from the bulk lattice."""
    r = size_nm * 5.0
    block = _bulk_block(element, r, structure, lattice_constant)
    keep = np.linalg.norm(block.get_positions(), axis=1) <= r
    return _centred(block[keep])


def random_shape(
    element: str,
    size_nm: float,
    n_spheres: int = 6,
    seed: int = 0,
    structure: str | None = None,
    lattice_constant: float | None = None,
) -> AtomicModel:
    """A random-shaped crystalline particle: the union of ``n_spheres`` overlapping spheres (Lee et al. 2021)."""
    rng = np.random.default_rng(seed)
    r = size_nm * 5.0
    block = _bulk_block(element, r, structure, lattice_constant)
    block.rotate(rng.uniform(0, 360), rng.normal(size=3), center=(0, 0, 0))
    pos = block.get_positions()
    keep = np.zeros(len(block), bool)
    for _ in range(n_spheres):
        rad = rng.uniform(0.35, 0.6) * r
        c = rng.normal(size=3)
        c *= (r - rad) * rng.uniform(0, 1) / np.linalg.norm(c)
        keep |= np.linalg.norm(pos - c, axis=1) <= rad
    return _centred(block[keep])


def amorphous(
    element: str,
    size_nm: float,
    density: float | None = None,
    min_distance: float | None = None,
    seed: int = 0,
    max_iter: int = 500,
) -> AtomicModel:
    """Amorphous sphere: random positions at ``density`` (atoms/Å³; default the crystal's) pushed apart until
    no pair is closer than ``min_distance`` Å (default 0.85 × the crystal's nearest-neighbour distance)."""
    density, dmin = _amorphous_defaults(element, density, min_distance)
    r = size_nm * 5.0
    n = int(round(density * 4 / 3 * np.pi * r**3))
    _check_packing(n, dmin, 4 / 3 * np.pi * r**3, f"a {size_nm} nm sphere")
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3))
    pos *= (r * rng.uniform(0, 1, n) ** (1 / 3) / np.linalg.norm(pos, axis=1))[:, None]

    def inside(p: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(p, axis=1, keepdims=True)
        return np.where(norm > r, p * r / norm, p)

    pos = _push_apart(pos, dmin, inside, max_iter)
    return AtomicModel(pos - pos.mean(axis=0), [element] * n)


def amorphous_film(
    element: str,
    width: float,
    thickness: float,
    density: float | None = None,
    min_distance: float | None = None,
    seed: int = 0,
    max_iter: int = 500,
) -> AtomicModel:
    """Amorphous film: a ``width`` × ``width`` × ``thickness`` Å slab (x, y, z; centred on the origin) packed like
    :func:`amorphous` (density in atoms/Å³, default the crystal's; minimum distance in Å)."""
    density, dmin = _amorphous_defaults(element, density, min_distance)
    half = np.array([width, width, thickness]) / 2
    n = int(round(density * width * width * thickness))
    _check_packing(n, dmin, width * width * thickness, f"a {width:g} × {width:g} × {thickness:g} Å film")
    pos = np.random.default_rng(seed).uniform(-half, half, (n, 3))
    pos = _push_apart(pos, dmin, lambda p: np.clip(p, -half, half), max_iter)
    return AtomicModel(pos, [element] * n)


def _amorphous_defaults(element: str, density: float | None, min_distance: float | None) -> tuple[float, float]:
    """Density (atoms/Å³) and minimum distance (Å): the crystal's density and 0.85 × its nearest-neighbour distance
    unless given."""
    sym, a = lattice(element)
    nn = {"fcc": a / np.sqrt(2), "bcc": a * np.sqrt(3) / 2, "hcp": a, "diamond": a * np.sqrt(3) / 4}.get(sym, a)
    return density or 1.0 / _atomic_volume(sym, a), min_distance or 0.85 * nn


def _check_packing(n: int, dmin: float, volume: float, what: str) -> None:
    if n * np.pi / 6 * dmin**3 > 0.55 * volume:
        raise AetInputError(
            f"{n} atoms with {dmin:.2f} Å minimum distance do not fit in {what}; lower the density or the minimum "
            "distance."
        )


def _push_apart(pos: np.ndarray, dmin: float, inside: Callable[[np.ndarray], np.ndarray], max_iter: int) -> np.ndarray:
    """Random positions pushed apart pairwise until no pair is closer than ``dmin``, kept in the shape by ``inside``."""
    for _ in range(max_iter):
        pairs = cKDTree(pos).query_pairs(dmin, output_type="ndarray")
        if len(pairs) == 0:
            return pos
        d = pos[pairs[:, 1]] - pos[pairs[:, 0]]
        dist = np.linalg.norm(d, axis=1, keepdims=True).clip(1e-6)
        push = 0.5 * (dmin * 1.02 - dist) * d / dist
        np.add.at(pos, pairs[:, 0], -push)
        np.add.at(pos, pairs[:, 1], push)
        pos = inside(pos)
    raise AetInputError("the amorphous packing did not converge; lower the density or the minimum distance.")


# ---------------------------------------------------------------- modifiers
def random_alloy(model: AtomicModel, elements: Sequence[str], fractions: Sequence[float], seed: int = 0) -> AtomicModel:
    """Random substitutional alloy: each atom becomes ``elements[i]`` with probability ``fractions[i]``."""
    p = np.asarray(fractions, dtype=float)
    if len(p) != len(elements) or np.any(p < 0) or not np.isclose(p.sum(), 1):
        raise AetInputError("give one non-negative fraction per element, summing to 1.")
    rng = np.random.default_rng(seed)
    return _with_elements(model, list(rng.choice(check_symbols(elements, unknown=False), size=len(model), p=p)))


def order_l10(model: AtomicModel, first: str, second: str, lattice_constant: float) -> AtomicModel:
    """Chemically ordered L1₀ (e.g. FePt): alternate (001) planes of an fcc particle are ``first``/``second``."""
    layer = np.rint(model.positions[:, 2] / (lattice_constant / 2)).astype(int)
    return _with_elements(model, [first if k % 2 == 0 else second for k in layer])


def core_shell(model: AtomicModel, core: str, shell: str, shell_thickness: float) -> AtomicModel:
    """``core`` atoms inside, ``shell`` atoms within ``shell_thickness`` Å of the surface (radial rule)."""
    dist = np.linalg.norm(model.positions - model.positions.mean(axis=0), axis=1)
    rmax = dist.max()
    return _with_elements(model, [shell if d > rmax - shell_thickness else core for d in dist])


def vacancies(model: AtomicModel, fraction: float, seed: int = 0) -> AtomicModel:
    """Remove a random ``fraction`` of the atoms."""
    if not 0 <= fraction < 1:
        raise AetInputError(f"the vacancy fraction must be in [0, 1), got {fraction}.")
    keep = np.random.default_rng(seed).random(len(model)) >= fraction
    return AtomicModel(model.positions[keep], [e for e, k in zip(model.elements, keep, strict=True) if k])


def thermal_displacement(model: AtomicModel, sigma: float, seed: int = 0) -> AtomicModel:
    """Displace every atom by an isotropic Gaussian of ``sigma`` Å per axis (static disorder, vibration)."""
    pos = model.positions + np.random.default_rng(seed).normal(0.0, sigma, model.positions.shape)
    return AtomicModel(pos, model.elements)


#: Support films: (elements, fractions or None for a crystal, density atoms/Å³, minimum distance Å). Amorphous
#: carbon ≈ 2.0 g/cm³; amorphous SiNₓ as Si₃N₄ at ≈ 2.9 g/cm³ (Si–N bond 1.74 Å); crystals from their lattices.
SUPPORTS: dict[str, tuple[tuple[str, ...], tuple[float, ...] | None, float, float]] = {
    "C": (("C",), (1.0,), 0.100, 1.30),
    "SiN": (("Si", "N"), (3 / 7, 4 / 7), 0.087, 1.60),
    "Al2O3": (("Al", "O"), None, 0.117, 0.0),
    "MgO": (("Mg", "O"), None, 0.107, 0.0),
    "CeO2": (("Ce", "O"), None, 0.076, 0.0),
}


def support_film(kind: str, width: float | tuple[float, float], thickness: float, seed: int = 0) -> AtomicModel:
    """A support film, ``width`` (x, y; one number: a square) × ``thickness`` Å (z), centred on the origin.

    ``kind``: ``"C"`` (amorphous carbon) or ``"SiN"`` (amorphous Si₃N₄), random positions at the density of
    :data:`SUPPORTS` pushed apart to its minimum distance; ``"Al2O3"`` (corundum, (0001) face up), ``"MgO"`` (rock
    salt, (001) face up) or ``"CeO2"`` (fluorite, (001) face up: a heavy support, Ce Z = 58), a crystal slab turned
    about z by a seeded random angle (the zone axes it shows then differ from film to film).
    """
    if kind not in SUPPORTS:
        raise AetInputError(f"unknown support {kind!r}; choose one of {sorted(SUPPORTS)}.")
    wx, wy = (width, width) if np.isscalar(width) else width  # type: ignore[misc]
    if min(wx, wy, thickness) <= 0:
        raise AetInputError(f"a support film needs a positive width and thickness (Å), got {width} and {thickness}.")
    elements, fractions, density, dmin = SUPPORTS[kind]
    rng = np.random.default_rng(seed)
    half = np.array([wx, wy, thickness]) / 2
    volume = float(np.prod(2 * half))
    if fractions is not None:
        n = int(round(density * volume))
        _check_packing(n, dmin, volume, f"a {wx:g} × {wy:g} × {thickness:g} Å film")
        pos = _push_apart(rng.uniform(-half, half, (n, 3)), dmin, lambda p: np.clip(p, -half, half), 500)
        return AtomicModel(pos, list(rng.choice(elements, n, p=fractions)))
    cell = _support_crystal(kind)
    reach = np.hypot(wx, wy) / 2 + 1.0  # the turned slab must still cover the rectangle
    reps = np.ceil(2 * np.array([reach, reach, half[2] + 1.0]) / cell.cell.lengths()).astype(int) + 2
    block = cell.repeat(tuple(int(r) for r in reps))
    pos = block.positions - block.cell.sum(axis=0) / 2
    angle = rng.uniform(0, 2 * np.pi)
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pos = pos @ turn.T
    keep = np.all(np.abs(pos) <= half, axis=1)
    return AtomicModel(pos[keep], list(np.array(block.get_chemical_symbols())[keep]))


def _support_crystal(kind: str) -> Atoms:
    """Orthogonal cell of a crystalline support with its film normal along z."""
    if kind in ("MgO", "CeO2"):
        return bulk(kind, *(("rocksalt", 4.212) if kind == "MgO" else ("fluorite", 5.411)), cubic=True)
    from ase.build import make_supercell
    from ase.spacegroup import crystal

    corundum = crystal(["Al", "O"], basis=[(0, 0, 0.3523), (0.3064, 0, 0.25)], spacegroup=167,
                       cellpar=[4.759, 4.759, 12.991, 90, 90, 120])  # fmt: skip
    return make_supercell(corundum, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])  # a × a√3 × c, orthogonal


def on_support(
    model: AtomicModel,
    thickness: float = 20.0,
    element: str = "C",
    density: float = 0.1,
    width: float | tuple[float, float] | None = None,
    gap: float = 1.5,
    seed: int = 0,
    support: str | None = None,
) -> AtomicModel:
    """Put the particle on a support film below it in z: labels 0 = particle, 1 = support.

    Without ``support``, an amorphous film of ``element`` at ``density`` atoms/Å³ (default carbon, 0.1 ≈ 2 g/cm³)
    whose atoms are placed at random; with ``support`` (a kind of :data:`SUPPORTS`: ``"C"``, ``"SiN"``, ``"Al2O3"``,
    ``"MgO"``), :func:`support_film`. The film spans ``width`` Å in x and y (one number: a square; default: 1.5 × the
    particle's extent + 10 Å; for a tilt series about y whose images it should fill at every tilt, about
    field of view / cos θ_max + 2 × thickness × tan θ_max in x) and its top lies ``gap`` Å under the lowest atom; the
    particle keeps its coordinates.
    """
    span = np.ptp(model.positions, axis=0)
    width = width or 1.5 * float(span[:2].max()) + 10.0
    wx, wy = (width, width) if np.isscalar(width) else width  # type: ignore[misc]
    top = model.positions[:, 2].min() - gap
    if support is None:
        rng = np.random.default_rng(seed)
        n = int(density * wx * wy * thickness)
        film = np.column_stack([rng.uniform(-wx / 2, wx / 2, n), rng.uniform(-wy / 2, wy / 2, n),
                                rng.uniform(top - thickness, top, n)])  # fmt: skip
        names = [element] * n
    else:
        slab = support_film(support, width, thickness, seed)
        film = slab.positions + [0.0, 0.0, top - slab.positions[:, 2].max()]
        names = slab.elements
    film[:, :2] += model.positions[:, :2].mean(axis=0)
    labels = np.r_[np.zeros(len(model), int), np.ones(len(film), int)]
    return AtomicModel(
        np.vstack([model.positions, film]),
        model.elements + names,
        labels=labels,
        metadata={"labels": "0 = particle, 1 = support", **({"support": support} if support else {})},
    )


def _with_elements(model: AtomicModel, elements: list[str]) -> AtomicModel:
    return AtomicModel(model.positions.copy(), elements, b_factor=model.b_factor, height=model.height)


SHAPES: dict[str, Callable[..., AtomicModel]] = {
    "cuboctahedron": cuboctahedron,
    "octahedron": octahedron,
    "truncated-octahedron": truncated_octahedron,
    "decahedron": decahedron,
    "icosahedron": icosahedron,
    "wulff": wulff,
    "sphere": sphere,
    "random": random_shape,
    "amorphous": amorphous,
}


CHEMISTRIES = ("pure", "random", "l10", "core-shell")


def build_model(
    structure: str,
    elements: Sequence[str],
    size_nm: float,
    chemistry: str = "pure",
    fractions: Sequence[float] | None = None,
    lattice_constant: float | None = None,
    shell_thickness: float = 4.0,
    vacancy_fraction: float = 0.0,
    thermal_sigma: float = 0.0,
    support_thickness: float = 0.0,
    seed: int = 0,
    support: str | None = None,
) -> AtomicModel:
    """One call for every builder: a shape, a chemistry, defects and an optional support film (``support``: a kind
    of :data:`SUPPORTS`, ``support_thickness`` Å; None: randomly placed amorphous carbon).

    ``elements`` lists the species; the lattice is that of the last one (the host: Pt in FePt or Pd@Pt)
    unless ``lattice_constant`` (Å) is given. Chemistries: ``pure``, ``random`` (with ``fractions``),
    ``l10`` (two elements, alternate (001) planes) and ``core-shell`` (first = core, second = shell of
    ``shell_thickness`` Å).
    """
    elements = check_symbols(elements, unknown=False)
    if structure not in SHAPES:
        raise AetInputError(f"unknown structure {structure!r}; choose one of {sorted(SHAPES)}.")
    if chemistry not in CHEMISTRIES:
        raise AetInputError(f"unknown chemistry {chemistry!r}; choose one of {CHEMISTRIES}.")
    if not 0.3 <= size_nm <= 50:
        raise AetInputError(f"size is a diameter in nm between 0.3 and 50, got {size_nm}.")
    host = elements[-1]
    kwargs: dict = {} if structure == "amorphous" else {"lattice_constant": lattice_constant}
    if structure in ("random", "amorphous"):
        kwargs["seed"] = seed
    model = SHAPES[structure](host, size_nm, **kwargs)
    if chemistry == "pure":
        if len(elements) != 1:
            raise AetInputError("several elements need a chemistry: random, l10 or core-shell.")
    elif chemistry == "random":
        model = random_alloy(model, elements, fractions or [1 / len(elements)] * len(elements), seed)
    elif len(elements) != 2:
        raise AetInputError(f"the {chemistry} chemistry takes exactly two elements, got {elements}.")
    elif chemistry == "l10":
        model = order_l10(model, elements[0], elements[1], lattice_constant or lattice(host)[1])
    else:
        model = core_shell(model, elements[0], elements[1], shell_thickness)
    if vacancy_fraction:
        model = vacancies(model, vacancy_fraction, seed)
    if thermal_sigma:
        model = thermal_displacement(model, thermal_sigma, seed)
    if support_thickness:
        model = on_support(model, thickness=support_thickness, seed=seed, support=support)
    model.metadata.update({"structure": structure, "chemistry": chemistry, "size_nm": size_nm, "seed": seed})
    return model
