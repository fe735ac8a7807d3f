"""The guard of ``aet run``: a network's atoms are trusted only as far as the measured projections support them.

A network trained on one kind of physics can invent atoms, or lose some, on data with another. The guard decides
on the measured images (never on the network's own confidence, never on a ground truth):

1. **Which trace.** The model traced from the network's output and the one traced from the tomogram are each
   refined briefly (:data:`GUARD_ITERATIONS` outer iterations, one B and H per species, otherwise as the refine
   stage would); the one that predicts the held-out projections better (lower R_free; R1 when none are held out)
   is kept. When the network's is worse the run says so and continues from the tomogram's trace.
2. **Atoms the images do not support** are dropped: those whose least-squares occupancy given the others
   (:func:`aet.refinement.support.occupancy`) is below :data:`aet.refinement.support.SUPPORTED`, i.e. the misfit
   falls when they are removed.
3. **Atoms the images call for** are added: the residual (measured − predicted) is reconstructed, as the tomogram
   was, into a difference map; its peaks farther than :data:`NEAR` × the minimum distance from every kept atom are
   candidates, each added when its occupancy, added alone, reaches :data:`ADD`.

The atoms go on to the refine stage at their traced positions, each with its occupancy as the score ``support``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

import aet
from aet.device import resolve_device
from aet.errors import AetInputError
from aet.model import AtomicModel, TiltSeries, Volume
from aet.refinement.report import RefineReport
from aet.refinement.support import SUPPORTED, occupancy, residual
from aet.settings import updated
from aet.settings.refine import RefineSettings

#: Outer iterations of the short refinement that puts the two traces on equal terms.
GUARD_ITERATIONS = 5
#: A candidate from the difference map is added when its occupancy, added alone, reaches this: stricter than
#: :data:`SUPPORTED`, since an addition must be called for by the images, not merely tolerated. On asi208 (±60°),
#: candidates of the traced models: at 1.6e4 e/Å² the true ones lie at 0.60–0.84 and the false at ≤ 0.36; at 8.0e3
#: most true ones at 0.5–1.0 and 2 of about 360 false ones above 0.6 (docs/benchmarks.md).
ADD = 0.6
#: Candidates lie farther than this fraction of the trace's minimum distance from every kept atom: refined
#: neighbours lean into a missing atom's density (asi208 at 1.6e4 e/Å²: two true atoms 1.96 Å from refined
#: neighbours, under the 2.0 Å minimum distance), and a duplicate of a kept atom finds its density explained
#: already (occupancy ≈ 0), so the occupancy, not the distance, decides.
NEAR = 0.8


@dataclass(frozen=True)
class GuardReport:
    """The guard's decision and the figures behind it (``summary.json``'s ``guard``).

    ``fit_network``/``fit_tomogram``: R_free (or R1, see ``measure``) of each trace after the short refinement (None
    for a trace without atoms);
    ``atoms_*``: atoms in each trace; ``dropped``: atoms of the kept trace the images do not support; ``added``:
    atoms of the difference map they call for; ``atoms``: what goes on to refinement.
    """

    decision: str
    measure: str
    fit_network: float | None
    fit_tomogram: float | None
    atoms_network: int
    atoms_tomogram: int
    dropped: int
    added: int
    atoms: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardReport:
        return cls(**d)

    def sentence(self) -> str:
        """One line for the log and the report."""
        verdict = ("the network's trace fits the measured projections as well or better" if self.decision == "network"
                   else "the network's trace fits the measured projections worse, so the run continues from the "
                   "tomogram's")  # fmt: skip
        pair = (self.fit_network, self.fit_tomogram)
        fits = " against ".join("none traced" if f is None else f"{f:.4f}" for f in pair)
        return (f"{verdict} ({self.measure} {fits} after {GUARD_ITERATIONS} iterations of refinement); "
                f"{self.dropped} atoms the images do not support dropped, {self.added} they call for added; "
                f"{self.atoms} atoms go on")  # fmt: skip


def guard(network: AtomicModel, tomogram: AtomicModel, measured: TiltSeries, settings: RefineSettings,
          difference_map: Callable[[TiltSeries], Volume], elements: list[str], min_distance: float,
          device: str = "cpu") -> tuple[AtomicModel, GuardReport]:  # fmt: skip
    """The atoms the measured projections support (module docstring).

    Args:
        network, tomogram: the models traced from the network's output and from the tomogram (positions in Å).
        measured: the images that refinement fits (no denoising).
        settings: the refine stage's settings; the short refinement uses them with :data:`GUARD_ITERATIONS`
            outer iterations and one B and H per species.
        difference_map: reconstructs a residual tilt series as the tomogram was reconstructed (no positivity).
        elements: the species, for the trace of the difference map.
        min_distance: the trace's minimum distance (Å).
    Returns:
        The guarded model (traced positions; the score ``support`` per atom) and the report.
    """
    t0 = time.perf_counter()
    dev = resolve_device(device)
    short = updated(settings, {"iterations": GUARD_ITERATIONS, "per_atom": "off"})
    if not len(network) and not len(tomogram):
        raise AetInputError("guard: neither the network's output nor the tomogram has atoms inside the images.")
    fits: dict[str, tuple[float, Any, Any]] = {}
    for name, model in (("network", network), ("tomogram", tomogram)):
        if len(model):
            refined, report = aet.refine(model, measured, short, device=device, progress=False)
            fits[name] = (_fit(report), refined, report)
    decision = min(fits, key=lambda k: (fits[k][0], k != "network"))  # the network's on a tie
    kept = network if decision == "network" else tomogram
    _, refined, report = fits[decision]
    occ = occupancy(refined, measured, report, device=dev)
    keep = occ >= SUPPORTED
    with warnings.catch_warnings():  # a difference map is mostly noise: the trace's warnings about it say nothing
        warnings.simplefilter("ignore")
        found = aet.trace(difference_map(residual(refined.subset(keep), measured, report, dev)), elements[:1],
                          min_distance=min_distance)  # fmt: skip
    candidates, occ_add = _additions(found.positions, refined.subset(keep), measured, report, NEAR * min_distance, dev)
    add = occ_add >= ADD
    b = None
    if kept.b_factor is not None and keep.any():  # the trace's widths seed refinement; an added atom takes the median
        b = np.r_[kept.b_factor[keep], np.full(int(add.sum()), np.median(kept.b_factor[keep]))]
    # the additions and the occupancies come out of a refinement and of a trace of a float32 difference map, which
    # carry the last bits of BLAS sums (1e-8 Å, 1e-9): rounded to 1e-4 Å and 1e-4, a resumed run passes the very
    # same atoms on as an uninterrupted one
    guarded = AtomicModel(np.vstack([kept.positions[keep], np.round(candidates.positions[add], 4)]),
                          [*kept.subset(keep).elements, *candidates.subset(add).elements], b_factor=b,
                          scores={"support": np.round(np.r_[occ[keep], occ_add[add]], 4)},
                          metadata={**kept.metadata, "guard": decision})  # fmt: skip
    fit = {k: fits[k][0] if k in fits else None for k in ("network", "tomogram")}
    result = GuardReport(decision, "R_free" if report.r_free else "R1", fit["network"], fit["tomogram"],
                         len(network), len(tomogram), int((~keep).sum()), int(add.sum()), len(guarded),
                         round(time.perf_counter() - t0, 3))  # fmt: skip
    return guarded, result


def _fit(report: RefineReport) -> float:
    """R_free of the model the short refinement returned, or its R1 when no projection was held out."""
    pair = report.r_free_before_after
    return report.after.R1 if pair is None else pair[1]


def _additions(found: np.ndarray, model: AtomicModel, measured: TiltSeries, report: RefineReport, distance: float,
               device: str) -> tuple[AtomicModel, np.ndarray]:  # fmt: skip
    """The peaks ``found`` ``[k, 3]`` (Å) farther than ``distance`` from every atom of ``model``, each as the fitted
    species whose occupancy, added alone, comes nearest to 1 (with that species' B and H), and those occupancies."""
    if len(model):
        found = found[cKDTree(model.positions).query(found)[0] > distance]
    species = list(report.species)
    occ = np.stack([occupancy(model, measured, report, _as_species(found, s, report), device=device)[len(model) :]
                    for s in species])  # fmt: skip
    best = np.abs(occ - 1).argmin(0) if len(found) else np.zeros(0, dtype=int)
    elements = [species[i] for i in best]
    candidates = AtomicModel(found, elements, b_factor=np.array([report.species[e].b_factor_A2 for e in elements]),
                             height=np.array([report.species[e].height for e in elements]))  # fmt: skip
    return candidates, occ[best, np.arange(len(found))]


def _as_species(positions: np.ndarray, element: str, report: RefineReport) -> AtomicModel:
    fit = report.species[element]
    n = len(positions)
    return AtomicModel(positions, [element] * n, b_factor=np.full(n, fit.b_factor_A2), height=np.full(n, fit.height))
