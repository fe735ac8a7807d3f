"""Time series of one particle for 4D AET: real dynamics between acquisitions, and the particle's rigid motion.

Between two acquisitions the particle is evolved by

1. **events** that molecular dynamics reaches only on far longer time scales than it can run (a tilt series takes
   minutes): surface hops (an adatom moves to a neighbouring empty hollow site, 0.5–2 Å away), vacancy hops (an
   atom moves into an empty neighbouring lattice site, one bond length) and species swaps (two unlike neighbours
   exchange sites, as ordering does);
2. **molecular dynamics** with ASE's EMT potential (Ni, Cu, Pd, Ag, Pt, Au) at a chosen temperature (Langevin
   thermostat), then a quench (FIRE) to the nearest energy minimum: a tilt series sees the time-averaged
   structure, and its thermal blur is the B-factor of the simulated images;
3. the **rigid motion** of the particle on its holder: a rotation by ``rotation_deg`` about a random axis through
   its centre and a drift of ``drift_A`` in a random direction (kept within ``max_offset_A`` of the rotation centre,
   as a microscopist re-centres the particle between series).

Atom identity is the index: atom ``i`` of every returned model is the same atom (elements travel with atoms).
Each model's ``metadata`` holds the step, the events of the interval before it (kind, atoms, distance in Å
after the quench) and the rigid motion since step 0 (``x_lab = R · x_internal + shift``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError
from aet.model import AtomicModel
from aet.progress import progress_bar

#: Elements ASE's EMT potential describes as metals (its H, C, N, O and Al parameters are for alloying only).
EMT_METALS = ("Ni", "Cu", "Pd", "Ag", "Pt", "Au")
#: A site is empty when no atom lies within this many nearest-neighbour distances of it.
EMPTY = 0.85
#: Bonded: closer than this many nearest-neighbour distances (between the first and second fcc shells).
BOND = 1.2

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Evolution:
    """What happens to the particle between two acquisitions.

    Attributes:
        temperature_K: temperature of the molecular dynamics, K.
        md_ps: molecular dynamics per interval, ps (0: none, e.g. for elements EMT does not describe).
        timestep_fs: MD time step, fs.
        adatoms: surface atoms moved from vertices and edges onto facets before step 0 (they then hop).
        surface_hops: adatom hops per interval (to an empty hollow site 0.5–2 Å away).
        vacancy_hops: atoms moved into an empty neighbouring lattice site per interval.
        swaps: unlike neighbours exchanging sites per interval.
        rotation_deg: rigid rotation per interval, degrees (random axis).
        drift_A: rigid drift per interval, Å (random direction).
        max_offset_A: the drift keeps the particle's centre within this distance of the rotation centre, Å.
        seed: seed of every random choice.
    """

    temperature_K: float = 600.0
    md_ps: float = 1.0
    timestep_fs: float = 5.0
    adatoms: int = 8
    surface_hops: int = 5
    vacancy_hops: int = 0
    swaps: int = 0
    rotation_deg: float = 2.0
    drift_A: float = 5.0
    max_offset_A: float = 7.5
    seed: int = 0


def evolve(model: AtomicModel, steps: int, evolution: Evolution | None = None,
           progress: bool = True) -> list[AtomicModel]:  # fmt: skip
    """``steps`` models of one particle in time (see module docstring); the first is ``model`` after its adatoms
    were placed and it was relaxed (when EMT describes it), centred on the rotation centre."""
    ev = evolution or Evolution()
    if steps < 1:
        raise AetInputError(f"a time series needs at least one step, got {steps}.")
    md = ev.md_ps > 0
    if md and not set(model.elements) <= set(EMT_METALS):
        raise AetInputError(
            f"EMT molecular dynamics describes {', '.join(EMT_METALS)} only, and the model holds "
            f"{', '.join(sorted(set(model.elements) - set(EMT_METALS)))}; set md_ps = 0 (events and rigid motion only)."
        )
    rng = np.random.default_rng(ev.seed)
    pos = model.positions - model.positions.mean(0)
    elements = list(model.elements)
    nn = float(np.median(cKDTree(pos).query(pos, k=2)[0][:, 1]))
    for _ in range(ev.adatoms):
        pos, _event = _surface_hop(pos, elements, nn, rng, set(), source="edge")
    if md:
        pos = _quench(pos, elements)
    rot, shift = np.eye(3), np.zeros(3)
    models = [_snapshot(pos, elements, 0, [], rot, shift)]
    with progress_bar(steps - 1, "time series", progress) as advance:
        for step in range(1, steps):
            before = pos.copy()
            pos, events = _events(pos, elements, nn, ev, rng)
            if md:
                pos = _quench(_molecular_dynamics(pos, elements, ev, rng), elements)
            pos = _without_rigid_motion(pos, before, nn)
            for e in events:  # the distance each moved atom ended up from where it was, after the quench
                e["distance_A"] = [round(float(np.linalg.norm(pos[i] - before[i])), 4) for i in e["atoms"]]
            rot, shift = _rigid_step(rot, shift, ev, rng)
            models.append(_snapshot(pos, elements, step, events, rot, shift))
            advance()
    return models


# ------------------------------------------------------------------------------------------------ events


def _events(pos: Array, elements: list[str], nn: float, ev: Evolution,
            rng: np.random.Generator) -> tuple[Array, list[dict[str, Any]]]:  # fmt: skip
    events: list[dict[str, Any]] = []
    kinds = [(_surface_hop, ev.surface_hops), (_vacancy_hop, ev.vacancy_hops), (_swap, ev.swaps)]
    for event, count in kinds:
        for _ in range(count):  # an atom takes part in one event per interval at most
            pos, e = event(pos, elements, nn, rng, moved={i for x in events for i in x["atoms"]})
            events += e
    return pos, events


def _coordination(pos: Array, nn: float) -> npt.NDArray[np.int64]:
    tree = cKDTree(pos)
    return np.asarray([len(n) - 1 for n in tree.query_ball_point(pos, BOND * nn)], dtype=np.int64)


def _hollow_sites(pos: Array, nn: float) -> Array:
    """Empty sites one bond length from three mutually bonded atoms (hollow sites on a surface; in a crystal's
    interior every such place is taken)."""
    tree = cKDTree(pos)
    pairs = tree.query_pairs(BOND * nn, output_type="ndarray")
    neighbours: list[set[int]] = [set() for _ in range(len(pos))]
    for i, j in pairs:
        neighbours[i].add(int(j))
        neighbours[j].add(int(i))
    tri = np.asarray([(i, j, k) for i, j in pairs for k in neighbours[i] & neighbours[j] if k > max(i, j)])
    if len(tri) == 0:
        return np.zeros((0, 3))
    a, b, c = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
    centre = (a + b + c) / 3
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    reach = np.linalg.norm(a - centre, axis=1)
    height = np.sqrt(np.clip(nn**2 - reach**2, 0.0, None))[:, None]
    sites = np.concatenate([centre + height * normal, centre - height * normal])
    empty = tree.query(sites)[0] >= EMPTY * nn
    sites = np.asarray(sites[empty], dtype=np.float64)
    if len(sites) == 0:
        return sites
    # several triangles name the same site (a fourfold hollow): keep one of each cluster
    keep = np.ones(len(sites), dtype=bool)
    for i, j in cKDTree(sites).query_pairs(0.3 * nn, output_type="ndarray"):
        if keep[i]:
            keep[j] = False
    return np.asarray(sites[keep], dtype=np.float64)


def _surface_hop(pos: Array, elements: list[str], nn: float, rng: np.random.Generator, moved: set[int],
                 source: str = "adatom") -> tuple[Array, list[dict[str, Any]]]:  # fmt: skip
    """Move one low-coordinated atom (not in ``moved``) to an empty hollow site: an adatom (≤ 5 neighbours) to a
    site 0.5–2 Å away (``source="adatom"``), or a vertex/edge atom (≤ 7 neighbours) anywhere on the surface
    (``"edge"``)."""
    coord = _coordination(pos, nn)
    limit = 5 if source == "adatom" else 7
    movers = np.asarray([i for i in np.flatnonzero(coord <= limit) if i not in moved], dtype=np.int64)
    rng.shuffle(movers)
    for i in movers:
        others = np.delete(pos, i, axis=0)
        sites = _hollow_sites(others, nn)
        d = np.linalg.norm(sites - pos[i], axis=1)
        ok = (d >= 0.5) & (d <= 2.0) if source == "adatom" else d >= 2.0
        # the new site must hold the atom at least as well as a hollow does (three bonds)
        ok &= np.asarray([len(n) >= 3 for n in cKDTree(others).query_ball_point(sites, BOND * nn)], dtype=bool)
        if ok.any():
            new = pos.copy()
            new[i] = sites[rng.choice(np.flatnonzero(ok))]
            kind = "surface_hop" if source == "adatom" else "adatom_placed"
            return new, [{"kind": kind, "atoms": [int(i)]}]
    return pos, []


def _vacancy_hop(pos: Array, elements: list[str], nn: float, rng: np.random.Generator,
                 moved: set[int]) -> tuple[Array, list[dict[str, Any]]]:  # fmt: skip
    """Move one atom into an empty neighbouring lattice site: the mirror of a bond through the atom (fcc and bcc
    are centrosymmetric), empty, and surrounded by at least 8 atoms (a vacancy, not a surface site)."""
    tree = cKDTree(pos)
    pairs = tree.query_pairs(BOND * nn, output_type="ndarray")
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    mirror = 2 * pos[pairs[:, 0]] - pos[pairs[:, 1]]
    empty = tree.query(mirror)[0] >= 0.6 * nn
    full = np.asarray([len(n) >= 8 for n in tree.query_ball_point(mirror, BOND * nn)], dtype=bool)
    free = ~np.isin(pairs[:, 0], list(moved))
    options = np.flatnonzero(empty & full & free)
    if len(options) == 0:
        return pos, []
    k = rng.choice(options)
    i = int(pairs[k, 0])
    new = pos.copy()
    new[i] = mirror[k]
    return new, [{"kind": "vacancy_hop", "atoms": [i]}]


def _swap(pos: Array, elements: list[str], nn: float, rng: np.random.Generator,
          moved: set[int]) -> tuple[Array, list[dict[str, Any]]]:  # fmt: skip
    """Two bonded atoms of different species exchange sites."""
    pairs = cKDTree(pos).query_pairs(BOND * nn, output_type="ndarray")
    el = np.asarray(elements)
    pairs = pairs[(el[pairs[:, 0]] != el[pairs[:, 1]]) & ~np.isin(pairs, list(moved)).any(axis=1)]
    if len(pairs) == 0:
        return pos, []
    i, j = (int(v) for v in pairs[rng.integers(len(pairs))])
    new = pos.copy()
    new[[i, j]] = pos[[j, i]]
    return new, [{"kind": "swap", "atoms": [i, j]}]


# ------------------------------------------------------------------------------------------------ dynamics


def _atoms(pos: Array, elements: list[str]) -> Any:
    import ase
    from ase.calculators.emt import EMT

    atoms = ase.Atoms(elements, positions=pos)
    atoms.calc = EMT()  # type: ignore[no-untyped-call]
    return atoms


def _molecular_dynamics(pos: Array, elements: list[str], ev: Evolution, rng: np.random.Generator) -> Array:
    """Langevin dynamics at ``ev.temperature_K`` for ``ev.md_ps`` (EMT forces)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    atoms = _atoms(pos, elements)
    thermalize_momenta(atoms, temperature_K=ev.temperature_K, rng=rng)
    dyn = Langevin(atoms, ev.timestep_fs * units.fs, temperature_K=ev.temperature_K, friction=0.01 / units.fs,
                   fixcm=False, rng=rng)  # fmt: skip
    dyn.run(max(1, round(ev.md_ps * 1000 / ev.timestep_fs)))  # type: ignore[no-untyped-call]
    return np.asarray(atoms.get_positions(), dtype=np.float64)


def _quench(pos: Array, elements: list[str], fmax: float = 0.02) -> Array:
    """The nearest energy minimum (FIRE until every force is below ``fmax`` eV/Å, at most 2,000 steps)."""
    from ase.optimize import FIRE

    atoms = _atoms(pos, elements)
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=2000)
    return np.asarray(atoms.get_positions(), dtype=np.float64)


def _without_rigid_motion(pos: Array, before: Array, nn: float) -> Array:
    """``pos`` turned and shifted back onto ``before`` (Kabsch fit over the atoms that stayed on their sites): the
    thermostat's random forces also turn and push the particle, which is not the particle's own change."""
    stayed = np.linalg.norm(pos - before - (pos - before).mean(0), axis=1) < 0.2 * nn
    p, b = pos[stayed], before[stayed]
    rot, _ = Rotation.align_vectors(b - b.mean(0), p - p.mean(0))
    return np.asarray(rot.apply(pos - p.mean(0)) + b.mean(0), dtype=np.float64)


def _rigid_step(rot: Array, shift: Array, ev: Evolution, rng: np.random.Generator) -> tuple[Array, Array]:
    axis = rng.normal(size=3)
    turn = Rotation.from_rotvec(np.radians(ev.rotation_deg) * axis / np.linalg.norm(axis)).as_matrix()
    for _ in range(100):  # a random direction that keeps the particle near the rotation centre
        step = rng.normal(size=3)
        new = shift + ev.drift_A * step / np.linalg.norm(step)
        if np.linalg.norm(new) <= max(ev.max_offset_A, ev.drift_A):
            break
    return turn @ rot, new


def _snapshot(pos: Array, elements: list[str], step: int, events: list[dict[str, Any]], rot: Array,
              shift: Array) -> AtomicModel:  # fmt: skip
    meta = {"step": step, "events": events, "rotation": rot.tolist(), "shift_A": shift.tolist(),
            "rigid_convention": "x_lab = rotation @ x_internal + shift_A"}  # fmt: skip
    return AtomicModel(pos @ rot.T + shift, list(elements), metadata=meta)
