"""`analyse`: everything the atoms say, as per-atom columns and a JSON-able summary (Å, degrees, fractions)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from aet.analysis.amorphous import icosahedral_fraction, steinhardt, voronoi_indices
from aet.analysis.chemistry import l10_order, radial_profile, warren_cowley
from aet.analysis.facets import facet_areas, facets
from aet.analysis.lattice import fit_lattice, in_lattice_frame, strain_tensors
from aet.analysis.neighbours import SHELL_FACTOR, check_model_size, median_nn_distance, neighbour_list, rdf
from aet.analysis.structure import BCC, FCC, STRUCTURES, grains, planar_defects, structure_types
from aet.elements import UNKNOWN
from aet.elements import nearest_neighbour_distance as tabulated_nn
from aet.errors import AetInputError
from aet.metrics.surface import surface_atoms
from aet.model import AtomicModel
from aet.progress import progress_bar

LOG = logging.getLogger("aet.analysis")

CONVENTIONS = {
    "lengths": "Å",
    "strain": "small-strain tensor ε = ½(∇u + ∇uᵀ) of the displacement from the fitted ideal lattice, a fraction "
    "(0.01 = 1 % tension); 'strain' in the model's x, y, z frame, 'strain_crystal' along the grain's [100], "
    "[010], [001]; columns xx, xy, xz, yx, yy, yz, zx, zy, zz",
    "structure": "adaptive common-neighbour analysis (Stukowski 2012); surface atoms are 'other'",
    "facet": "convex-hull face of the particle the surface atom lies on; 'edge' for edges and corners",
    "warren_cowley": "α_ij = 1 − p(j around i)/c_j per coordination shell; for unlike pairs negative = ordering, "
    "positive = clustering",
    "l10_order": "S = r_α + r_β − 1 over alternate (001) planes of the fitted fcc lattice",
}


@dataclass
class Analysis:
    """Per-atom columns (each ``[N]`` or ``[N, k]``) and the summary written to analysis.json."""

    per_atom: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check_scale(model: AtomicModel, nn: float) -> None:
    """Refuse positions that are not in Å (or species that cannot be right): the measured nearest-neighbour
    distance must be within a factor 1.6 of the elements' own."""
    known = [e for e in model.species if e != UNKNOWN]
    if not known:
        return
    expected = float(np.mean([tabulated_nn(e) for e in known]))
    if not 0.6 * expected <= nn <= 1.6 * expected:
        raise AetInputError(
            f"the atoms' median nearest-neighbour distance is {nn:.3g} Å, but {'/'.join(known)} atoms sit about "
            f"{expected:.2f} Å apart; give positions in Å (convert from nm or pixels) or set the right elements."
        )


def analyse(
    model: AtomicModel,
    lattice_constant: float | None = None,
    cutoff: float | None = None,
    strain_radius: float | None = None,
    progress: bool = True,
) -> Analysis:
    """Analyse a particle's atomic model: neighbours, RDF, surface and facets, structure types, twins, grains,
    strain per grain, chemical order (alloys) and bond-orientational / Voronoi order.

    Args:
        model: positions in Å and element symbols ("X" for unknown species: chemistry is then skipped).
        lattice_constant: Å; fitted per grain when not given (strain is then relative to the grain's mean lattice).
        cutoff: first-shell cut-off in Å; default (1 + √2)/2 × the median nearest-neighbour distance.
        strain_radius: Å, the strain map's smoothing radius for every atom; default 3.5 lattice constants,
            growing near the surface to keep the map's precision (the radius used is the column strain_radius).
    """
    n = len(model)
    check_model_size(n)
    pos = model.positions
    out = Analysis()
    nn = median_nn_distance(pos)
    _check_scale(model, nn)
    steps = ["neighbours", "surface", "structure", "strain", "chemistry", "order"]
    with progress_bar(len(steps), "analyse", enabled=progress) as advance:
        cut = float(cutoff) if cutoff else SHELL_FACTOR * nn
        nbrs = neighbour_list(pos, cut)
        if len(nbrs.i) == 0:
            raise AetInputError(
                f"no two atoms are closer than the cut-off of {cut:.3g} Å, so no atom has neighbours; give a larger "
                f"cutoff (the median nearest-neighbour distance is {nn:.3g} Å) or check that positions are in Å."
            )
        coordination = nbrs.coordination
        out.per_atom["coordination"] = coordination
        out.per_atom["bond_length"] = nbrs.mean_bond_length()
        total = rdf(pos, r_max=min(10.0, 4 * nn))
        out.summary["neighbours"] = {
            "cutoff_A": cut, "nn_distance_A": nn, "mean_coordination": float(coordination.mean()),
            "coordination_histogram": dict(enumerate(np.bincount(coordination).tolist())),
            "rdf": {"r_A": total.r.tolist(), "g": total.g.tolist(), "first_peak_A": total.first_peak()},
        }  # fmt: skip
        advance()

        surface = surface_atoms(pos)
        out.per_atom["surface"] = surface.astype(np.int64)
        advance()

        types = structure_types(pos)
        defects = planar_defects(pos, types)
        grain = grains(pos, types, cut)
        out.per_atom["structure"] = np.array([STRUCTURES[t] for t in types])
        out.per_atom["defect"] = defects
        out.per_atom["grain"] = grain
        counts = Counter(STRUCTURES[t] for t in types)
        out.summary["structure"] = {
            "counts": {s: counts.get(s, 0) for s in STRUCTURES},
            "interior_fractions": {s: float(np.mean(types[~surface] == k)) if (~surface).any() else float("nan")
                                   for k, s in enumerate(STRUCTURES)},
            "twin_atoms": int((defects == "twin").sum()),
            "stacking_fault_atoms": int((defects == "stacking_fault").sum()),
        }  # fmt: skip
        advance()

        strain = np.full((n, 3, 3), np.nan)
        strain_crystal = np.full((n, 3, 3), np.nan)
        lattices = []
        radius_used = np.full(n, np.nan)
        sites = np.zeros((n, 3), dtype=np.int64)
        for g in range(int(grain.max()) + 1):
            members = np.flatnonzero(grain == g)
            structure = "bcc" if (types[members] == BCC).sum() > (types[members] == FCC).sum() else "fcc"
            try:
                lat, grain_sites = fit_lattice(pos[members], structure, lattice_constant)
            except AetInputError as exc:
                out.notes.append(f"grain {g} ({len(members)} atoms) has no lattice fitted, so no strain: {exc}")
                continue
            sites[members] = grain_sites
            eps, radius_used[members] = strain_tensors(pos[members], lat, grain_sites, strain_radius)
            strain[members] = eps
            strain_crystal[members] = in_lattice_frame(eps, lat)
            lattices.append((g, lat, members))
        out.per_atom["strain"] = strain.reshape(n, 9)
        out.per_atom["strain_crystal"] = strain_crystal.reshape(n, 9)
        out.per_atom["strain_radius"] = radius_used
        out.summary["grains"] = [{
            "grain": g, "structure": lat.structure, "atoms": int(len(members)), "lattice_constant_A": lat.a,
            "lattice_constant_given": lattice_constant is not None, "rms_misfit_A": lat.rms_misfit,
            "axes_100_010_001": lat.rotation.T.tolist(),
            "mean_strain_crystal": np.nanmean(strain_crystal[members], axis=0).tolist(),
            "rms_strain_crystal": np.sqrt(np.nanmean((strain_crystal[members]
                                                      - np.nanmean(strain_crystal[members], 0)) ** 2, 0)).tolist(),
        } for g, lat, members in lattices]  # fmt: skip
        if lattices:
            labels, found = facets(pos, surface, grain, {g: lat.rotation for g, lat, _ in lattices}, nn)
            areas = facet_areas(found)
            out.per_atom["facet"] = labels
            out.summary["facets"] = {
                "areas_A2": areas,
                "area_fractions": {k: v / sum(areas.values()) for k, v in areas.items()} if areas else {},
                "surface_atoms": {k: int(v) for k, v in Counter(labels[surface]).items()},
                "faces": [{"family": f.family, "area_A2": f.area, "atoms": f.n_atoms, "normal": f.normal.tolist()}
                          for f in found],
            }  # fmt: skip
        else:
            out.notes.append("no crystal grain was found, so there is no lattice: strain and facets are skipped.")
        advance()

        real = [e for e in model.species if e != UNKNOWN]
        if UNKNOWN in model.species:
            out.notes.append("the model has atoms of unknown species ('X'): the chemistry is skipped.")
        elif len(real) < 2:
            out.notes.append(f"the model has one species ({real[0]}): there is no chemical order to analyse.")
        else:
            if lattices:
                a = lattices[0][1].a
                mids = (np.r_[0.0, (np.sqrt([0.5, 1.0, 1.5]) + np.sqrt([1.0, 1.5, 2.0])) / 2] * a
                        if lattices[0][1].structure == "fcc"
                        else np.r_[0.0, (np.sqrt([0.75, 1.0, 2.0]) + np.sqrt([1.0, 2.0, 2.75])) / 2] * a)  # fmt: skip
                shells = list(zip(mids[:-1], mids[1:], strict=True))
            else:
                shells = [(0.0, cut)]
            chem: dict[str, Any] = {
                "shells_A": [[float(lo), float(hi)] for lo, hi in shells],
                "warren_cowley": warren_cowley(pos, model.elements, shells),
                "radial_profile": radial_profile(pos, model.elements),
                "partial_first_peaks_A": {},
            }
            el = np.asarray(model.elements)
            for i, a_ in enumerate(real):
                for b_ in real[i:]:
                    part = rdf(pos, r_max=min(10.0, 4 * nn), query=el == a_, points=el == b_, pair=f"{a_}-{b_}")
                    chem["partial_first_peaks_A"][part.pair] = part.first_peak()
                    chem.setdefault("partial_rdf", {"r_A": part.r.tolist()})[part.pair] = part.g.tolist()
            if lattices and lattices[0][1].structure == "fcc":
                members = lattices[0][2]
                order = l10_order(sites[members], [model.elements[k] for k in members])
                axis = order.pop("axis")
                order["c_axis_model"] = None if axis is None else lattices[0][1].rotation[:, int(axis)].tolist()
                chem["l10_order"] = order
            out.summary["chemistry"] = chem
        advance()

        q = steinhardt(pos, nbrs)
        out.per_atom.update(q)
        disordered = ~surface & (grain < 0)
        vor = voronoi_indices(pos, disordered)
        index = np.full((n, 4), -1, dtype=np.int64)
        for atom, idx in vor.items():
            index[atom] = idx
        out.per_atom["voronoi"] = index
        hist_edges = np.linspace(0, 1, 51)
        out.summary["order"] = {
            f"{k}_histogram": {"edges": hist_edges.tolist(),
                               "counts": np.histogram(v[np.isfinite(v)], hist_edges)[0].tolist()}
            for k, v in q.items()
        } | {
            "q4_mean": float(np.nanmean(q["q4"])), "q6_mean": float(np.nanmean(q["q6"])),
            "voronoi_atoms": len(vor), "icosahedral_fraction": icosahedral_fraction(vor),
            "voronoi_top": [[list(k), c] for k, c in Counter(vor.values()).most_common(8)],
        }  # fmt: skip
        advance()
    out.summary["n_atoms"] = n
    out.summary["species"] = dict(Counter(model.elements))
    out.summary["conventions"] = CONVENTIONS
    out.summary["notes"] = out.notes
    for note in out.notes:
        LOG.info(note)
    return out


def with_columns(model: AtomicModel, analysis: Analysis) -> Any:
    """The model as ``ase.Atoms`` with every per-atom column of the analysis attached (extended XYZ keeps them)."""
    atoms = model.to_ase()
    for name, value in analysis.per_atom.items():
        atoms.set_array(name, np.asarray(value))  # type: ignore[no-untyped-call]
    return atoms
