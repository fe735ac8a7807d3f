"""Atoms followed through a time series of models: registration, one-to-one correspondences, displacements and
events.

Between two consecutive models (Å):

1. **register** the earlier model onto the later one (rigid, or affine on request; :mod:`aet.tracking.register`);
2. **match** the atoms one to one, optimally (most pairs, then least Σd², :func:`aet.metrics.match_atoms`) within
   ``radius`` (default 0.8 nearest-neighbour distances, which holds surface hops of up to 2 Å in Pt); the
   registration is then refitted on the pairs that did not move and the matching repeated;
3. **jumps**: the atoms that moved and those left unmatched are matched again within ``jump_radius`` (default 1.3
   bond lengths) among atoms of the same species, the most pairs first: an atom that moved into a neighbouring
   vacancy, and neighbouring atoms that hopped at once, are then paired right;
4. **swaps**: two bonded sites whose species exchanged are two atoms that swapped places (an atom keeps its
   species, so their correspondences are crossed); a site whose species changed alone is reported as a species
   change (or a misclassified atom);
5. what is left is **vanished** (earlier model only) or **appeared** (later model only).

Displacements are ``later − registration(earlier)``, in the later model's orientation: the rigid motion of the
particle is removed, what is left is each atom's own move. An atom moved when its displacement is at least
``move_threshold`` Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from aet.analysis.neighbours import median_nn_distance
from aet.errors import AetInputError
from aet.metrics.matching import match_atoms
from aet.model import AtomicModel
from aet.tracking.register import Registration, fit_pairs, register

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]
#: Default match radius, jump radius and bond reach as multiples of the nearest-neighbour distance.
RADIUS_FACTOR, JUMP_FACTOR, BOND_FACTOR = 0.8, 1.3, 1.2
#: Kinds of correspondence (``Step.kind`` codes).
KINDS = ("stayed", "moved", "jump", "swap", "species_change")


@dataclass
class Step:
    """Correspondences between model ``t`` and model ``t + 1``.

    Attributes:
        registration: maps model t onto model t + 1.
        before, after: index pairs: atom ``before[k]`` of model t is atom ``after[k]`` of model t + 1.
        displacement: ``[n, 3]`` Å, each pair's own move (rigid motion removed), in model t + 1's orientation.
        kind: ``[n]`` codes into :data:`KINDS`.
        vanished, appeared: atoms of model t (t + 1) without a partner.
        events: one dict per hop, jump, swap, species change, vanished or appeared atom.
    """

    registration: Registration
    before: Index
    after: Index
    displacement: Array
    kind: Index
    vanished: Index
    appeared: Index
    events: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {k: int((self.kind == i).sum()) for i, k in enumerate(KINDS)}
        return out | {"pairs": len(self.before), "vanished": len(self.vanished), "appeared": len(self.appeared)}

    def summary(self) -> dict[str, Any]:
        still = self.kind == KINDS.index("stayed")
        d = np.linalg.norm(self.displacement, axis=1)
        return {
            "registration": self.registration.to_dict(),
            "counts": self.counts(),
            "rms_displacement_stayed_pm": round(float(np.sqrt(np.mean(d[still] ** 2)) * 100), 3) if still.any()
            else None,
            "events": self.events,
        }  # fmt: skip


@dataclass
class Tracking:
    """A tracked series: the models, one :class:`Step` per interval, track ids and order per model."""

    models: list[AtomicModel]
    steps: list[Step]
    track_ids: list[Index]
    order: list[dict[str, Any]]
    settings: dict[str, float | bool | None]


def track_pair(earlier: AtomicModel, later: AtomicModel, *, radius: float | None = None,
               jump_radius: float | None = None, move_threshold: float = 0.5,
               affine: bool = False) -> Step:  # fmt: skip
    """Correspondences from ``earlier`` to ``later`` (see module docstring); lengths in Å."""
    a, b = earlier.positions, later.positions
    if len(a) < 4 or len(b) < 4:
        raise AetInputError("tracking needs models of at least 4 atoms each.")
    nn = median_nn_distance(a)
    radius = RADIUS_FACTOR * nn if radius is None else float(radius)
    jump_radius = JUMP_FACTOR * nn if jump_radius is None else float(jump_radius)
    if not 0 < radius <= jump_radius:
        raise AetInputError(f"the match radius ({radius:g} Å) must be positive and at most the jump radius "
                            f"({jump_radius:g} Å).")  # fmt: skip
    reg = register(a, b, nn, affine=affine)
    for _ in range(2):  # refit on the atoms that stayed: hops must not steer the registration
        ia, ib = match_atoms(reg.apply(a), b, radius)
        still = np.linalg.norm(b[ib] - reg.apply(a[ia]), axis=1) < move_threshold
        if still.sum() >= 4:
            reg = fit_pairs(a[ia[still]], b[ib[still]], affine)
    ia, ib = match_atoms(reg.apply(a), b, radius)
    ea, eb = np.asarray(earlier.elements), np.asarray(later.elements)
    kind = np.where(np.linalg.norm(b[ib] - reg.apply(a[ia]), axis=1) >= move_threshold, 1, 0)

    # jumps: the atoms that moved or found no partner are matched again among atoms of one species within the jump
    # radius, the most pairs first: two neighbouring adatoms that hopped 1.5 and 2.9 Å are then two pairs, not one
    # pair of 1.4 Å between the wrong atoms and two atoms left unpaired
    movers = (kind == KINDS.index("moved")) & (ea[ia] == eb[ib])
    open_a = np.concatenate([np.setdiff1d(np.arange(len(a)), ia), ia[movers]])
    open_b = np.concatenate([np.setdiff1d(np.arange(len(b)), ib), ib[movers]])
    ia, ib, kind = ia[~movers], ib[~movers], kind[~movers]
    for el in sorted(set(ea[open_a]) & set(eb[open_b])):
        sa, sb = open_a[ea[open_a] == el], open_b[eb[open_b] == el]
        ja, jb = match_atoms(reg.apply(a[sa]), b[sb], jump_radius)
        d = np.linalg.norm(b[sb[jb]] - reg.apply(a[sa[ja]]), axis=1)
        ia, ib = np.concatenate([ia, sa[ja]]), np.concatenate([ib, sb[jb]])
        kind = np.concatenate([kind, np.where(d >= radius, KINDS.index("jump"), (d >= move_threshold).astype(int))])

    # swaps: bonded sites whose species exchanged; the atoms' correspondences are crossed
    changed = np.flatnonzero(ea[ia] != eb[ib])
    kind[changed] = KINDS.index("species_change")
    swaps: list[tuple[int, int]] = []
    if len(changed) > 1:
        for p, q in cKDTree(a[ia[changed]]).query_pairs(BOND_FACTOR * nn, output_type="ndarray"):
            k, m = int(changed[p]), int(changed[q])
            taken = {i for pair in swaps for i in pair}
            if k in taken or m in taken or ea[ia[k]] != eb[ib[m]] or ea[ia[m]] != eb[ib[k]]:
                continue
            swaps.append((k, m))
            ib[k], ib[m] = ib[m], ib[k]
            kind[[k, m]] = KINDS.index("swap")

    disp = b[ib] - reg.apply(a[ia])
    events = [_event("swap", ia[[k, m]], ib[[k, m]], disp[[k, m]], ea) for k, m in swaps]
    for j in np.flatnonzero((kind != KINDS.index("stayed")) & (kind != KINDS.index("swap"))):
        name = "hop" if kind[j] == KINDS.index("moved") else KINDS[kind[j]]
        events.append(_event(name, ia[[j]], ib[[j]], disp[[j]], ea))
    order = np.argsort(ia, kind="stable")
    ia, ib, kind, disp = ia[order], ib[order], kind[order], disp[order]
    vanished, appeared = np.setdiff1d(np.arange(len(a)), ia), np.setdiff1d(np.arange(len(b)), ib)
    events += [{"kind": "vanished", "before": [int(i)], "element": str(ea[i])} for i in vanished]
    events += [{"kind": "appeared", "after": [int(j)], "element": str(eb[j])} for j in appeared]
    return Step(reg, ia.astype(np.int64), ib.astype(np.int64), disp, kind.astype(np.int64),
                vanished.astype(np.int64), appeared.astype(np.int64), events)  # fmt: skip


def _event(name: str, before: Index, after: Index, disp: Array, elements: Any) -> dict[str, Any]:
    """One event: the atoms before and after (indices), their elements (before) and how far each moved (Å)."""
    return {"kind": name, "before": [int(i) for i in before], "after": [int(j) for j in after],
            "elements": [str(elements[i]) for i in before],
            "distance_A": [round(float(v), 4) for v in np.linalg.norm(disp, axis=1)]}  # fmt: skip


def track(models: list[AtomicModel], *, radius: float | None = None, jump_radius: float | None = None,
          move_threshold: float = 0.5, affine: bool = False, order: bool = True) -> Tracking:  # fmt: skip
    """Track atoms through ``models`` (in time order): one :class:`Step` per consecutive pair, persistent track ids
    (model 0's atoms are 0 … N−1; an appeared atom gets the next free id) and, with ``order``, the order of each
    model (:func:`order_parameters`)."""
    if len(models) < 2:
        raise AetInputError(f"tracking needs at least two models, got {len(models)}.")
    steps = [track_pair(p, q, radius=radius, jump_radius=jump_radius, move_threshold=move_threshold, affine=affine)
             for p, q in zip(models[:-1], models[1:], strict=True)]  # fmt: skip
    ids = [np.arange(len(models[0]), dtype=np.int64)]
    next_id = len(models[0])
    for step, model in zip(steps, models[1:], strict=True):
        new = np.full(len(model), -1, dtype=np.int64)
        new[step.after] = ids[-1][step.before]
        fresh = new < 0
        new[fresh] = next_id + np.arange(fresh.sum())
        next_id += int(fresh.sum())
        ids.append(new)
    settings = {"radius_A": radius, "jump_radius_A": jump_radius, "move_threshold_A": move_threshold,
                "affine": affine}  # fmt: skip
    return Tracking(models, steps, ids, [order_parameters(m) for m in models] if order else [], settings)


def order_parameters(model: AtomicModel) -> dict[str, Any]:
    """Figures to follow in time: atoms, mean coordination, structure fractions (adaptive CNA) and, for two
    species on an fcc lattice, the L1₀ order parameter S."""
    from aet.analysis.chemistry import l10_order
    from aet.analysis.lattice import fit_lattice
    from aet.analysis.neighbours import SHELL_FACTOR, neighbour_list
    from aet.analysis.structure import STRUCTURES, structure_types

    pos = model.positions
    out: dict[str, Any] = {"atoms": len(model)}
    if len(model) < 13:
        return out
    nn = median_nn_distance(pos)
    out["mean_coordination"] = round(float(neighbour_list(pos, SHELL_FACTOR * nn).coordination.mean()), 4)
    codes = structure_types(pos)
    out["structure_fractions"] = {name: round(float((codes == k).mean()), 4) for k, name in enumerate(STRUCTURES)}
    if len(model.species) == 2:
        fcc = codes == STRUCTURES.index("fcc")
        use = fcc if fcc.sum() > 20 else np.ones(len(pos), dtype=bool)
        try:
            _, sites = fit_lattice(pos[use])
        except AetInputError:  # no lattice to speak of: no L1₀ order either
            return out
        out["l10_S"] = round(float(l10_order(sites, list(np.asarray(model.elements)[use]))["S"]), 4)
    return out
