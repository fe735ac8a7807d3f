"""Ground-truth comparison of an atomic model: one-to-one matching after removing the global mean shift.

Matching is an *optimal* one-to-one assignment: among the pairs closer than the radius it first maximises
the number of matched pairs, then minimises the sum of squared distances. The candidate pairs come from a
KD-tree (no N×M matrices); pairs that compete with nobody are matched directly, and each connected group of
competing pairs is solved exactly (``linear_sum_assignment`` on the small group, or the sparse LAPJVsp
``min_weight_full_bipartite_matching`` for large groups). A greedy nearest-first matching depends on the
order in which ties and chains are visited and can lose pairs in crowded places; the optimal one cannot, and
it reproduces the published asi208 figures (see :mod:`aet.metrics.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from aet.errors import AetInputError
from aet.metrics.surface import PROBE_FACTOR, SURFACE_RULE, nearest_neighbour_distance, surface_atoms
from aet.model import AtomicModel

#: Groups of competing pairs with more model × true atoms than this are solved with the sparse solver.
DENSE_LIMIT = 250_000


# ----------------------------------------------------------------------------------------------- matching
def candidate_pairs(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i, j) with ``|a[i] − b[j]| ≤ radius`` (Å) and their squared distances (Å²), from KD-trees."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0)
    pairs = cKDTree(a).sparse_distance_matrix(cKDTree(b), radius, output_type="ndarray")
    i = pairs["i"].astype(np.int64)
    j = pairs["j"].astype(np.int64)
    d2 = np.sum((a[i] - b[j]) ** 2, axis=1)
    return i, j, d2


def _solve_group(gi: np.ndarray, gj: np.ndarray, gd2: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal matching of one connected group of candidate pairs: most pairs first, then least Σd²."""
    ui, ii = np.unique(gi, return_inverse=True)
    uj, jj = np.unique(gj, return_inverse=True)
    k, m = len(ui), len(uj)
    # A bonus per pair larger than any possible growth of Σd² makes the pair count the first criterion.
    bonus = (min(k, m) + 1) * (radius**2 + 1.0)
    if k * m <= DENSE_LIMIT:
        cost = np.zeros((k, m))
        cost[ii, jj] = gd2 - bonus
        r, c = linear_sum_assignment(cost)
        keep = cost[r, c] < 0
        return ui[r[keep]], uj[c[keep]]
    # Sparse full matching on an augmented graph: rows = models + truth-dummies, columns = truths + model-dummies.
    # Model i may go to truth j (d² + δ) or to its own dummy (bonus/2 ≈ "unmatched"); truth j likewise; the
    # dummies of a candidate pair pair up with each other (δ). All weights must be non-zero.
    delta = 1e-9 * max(radius**2, 1e-12)
    half = 0.5 * bonus
    rows = np.concatenate([ii, np.arange(k), k + np.arange(m), k + jj])
    cols = np.concatenate([jj, m + np.arange(k), np.arange(m), m + ii])
    vals = np.concatenate([gd2 + delta, np.full(k, half), np.full(m, half), np.full(len(ii), delta)])
    graph = coo_matrix((vals, (rows, cols)), shape=(k + m, m + k)).tocsr()
    r, c = min_weight_full_bipartite_matching(graph)
    keep = (r < k) & (c < m)
    return ui[r[keep]], uj[c[keep]]


def match_atoms(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of positions ``a`` to ``b`` within ``radius`` Å.

    Maximises the number of pairs, then minimises the sum of squared distances. Returns index arrays
    ``(ia, ib)`` sorted by ``ia``.
    """
    if not np.isfinite(radius) or radius <= 0:
        raise AetInputError(f"the match radius must be a positive number of Å, got {radius!r}.")
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    i, j, d2 = candidate_pairs(a, b, radius)
    if len(i) == 0:
        return i, j
    alone = (np.bincount(i, minlength=len(a))[i] == 1) & (np.bincount(j, minlength=len(b))[j] == 1)
    out_i, out_j = [i[alone]], [j[alone]]
    ci, cj, cd = i[~alone], j[~alone], d2[~alone]
    if len(ci):
        n = len(a)
        graph = coo_matrix((np.ones(len(ci)), (ci, cj + n)), shape=(n + len(b), n + len(b)))
        _, label = connected_components(graph, directed=False)
        group = label[ci]
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        for sel in np.split(order, bounds):
            gi, gj = _solve_group(ci[sel], cj[sel], cd[sel], radius)
            out_i.append(gi)
            out_j.append(gj)
    ia, ib = np.concatenate(out_i), np.concatenate(out_j)
    order = np.argsort(ia, kind="stable")
    return ia[order], ib[order]


# ------------------------------------------------------------------------------------------------ results
def _ratio(num: float, den: float) -> float:
    """num / den, or 0 when den is 0 (an empty set has no recall or precision)."""
    return float(num) / float(den) if den else 0.0


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN → None, tuples → lists, numpy scalars → Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


@dataclass
class ElementStats:
    """Figures for one element (a pair counts as correct only when the model gives the true element).

    Attributes:
        element: the symbol.
        n_truth: true atoms of this element.
        n_model: model atoms of this element.
        n_matched: true atoms of this element matched to any model atom (position only).
        n_correct: true atoms of this element matched to a model atom of the same element.
        recall: ``n_correct / n_truth``.
        precision: ``n_correct / n_model``.
    """

    element: str
    n_truth: int
    n_model: int
    n_matched: int
    n_correct: int
    recall: float
    precision: float


@dataclass
class RegionStats:
    """Figures for the surface or the interior atoms of the truth.

    Model atoms are attributed to the region of their partner, or (unmatched) of the nearest true atom
    after the shift, so that ``precision`` is defined per region.

    Attributes:
        region: ``"surface"`` or ``"interior"``.
        n_truth, n_model, n_matched: atom counts.
        recall, precision: fractions (0 … 1).
        rmsd_pm: RMSD of the matched pairs in pm (NaN without pairs).
        species_accuracy: fraction of matched pairs with the true element (NaN without pairs).
    """

    region: str
    n_truth: int
    n_model: int
    n_matched: int
    recall: float
    precision: float
    rmsd_pm: float
    species_accuracy: float


@dataclass
class Comparison:
    """Result of :func:`compare`: detection, precision (pm) and species figures of a model against the truth.

    Ratios are fractions (0 … 1); undefined ones (no pairs) are NaN here and ``null`` in :meth:`to_dict`.
    The arrays ``model_index``, ``truth_index`` and ``displacement`` (truth − shifted model, Å) list the
    matched pairs. Also readable like a dict: ``result["rmsd_pm"]``.
    """

    radius: float
    n_model: int
    n_truth: int
    n_matched: int
    recall: float
    precision: float
    f1: float
    rmsd_pm: float
    rmsd_xyz_pm: tuple[float, float, float]
    shift: tuple[float, float, float]
    iterations: int
    converged: bool
    species_accuracy: float
    elements: dict[str, ElementStats]
    regions: dict[str, RegionStats]
    confusion: dict[str, dict[str, int]]
    probe_radius: float | None
    surface_rule: str = SURFACE_RULE
    model_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    truth_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    displacement: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)), repr=False)

    def to_dict(self, pairs: bool = False) -> dict[str, Any]:
        """JSON-serialisable summary; ``pairs=True`` adds the matched index pairs and displacements (Å)."""
        out: dict[str, Any] = {
            "radius_A": self.radius,
            "n_model": self.n_model,
            "n_truth": self.n_truth,
            "n_matched": self.n_matched,
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "rmsd_pm": self.rmsd_pm,
            "rmsd_xyz_pm": list(self.rmsd_xyz_pm),
            "shift_A": list(self.shift),
            "iterations": self.iterations,
            "converged": self.converged,
            "species_accuracy": self.species_accuracy,
            "elements": {k: vars(v).copy() for k, v in self.elements.items()},
            "regions": {k: vars(v).copy() for k, v in self.regions.items()},
            "confusion": self.confusion,
            "probe_radius_A": self.probe_radius,
            "surface_rule": self.surface_rule,
        }
        if pairs:
            out["pairs"] = {
                "model_index": self.model_index,
                "truth_index": self.truth_index,
                "displacement_A": self.displacement,
            }
        return _clean(out)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def keys(self) -> list[str]:
        return list(self.to_dict())

    def render(self) -> Any:
        """A rich renderable: the summary (all / surface / interior) and, for typed atoms, a per-element table."""
        from rich.console import Group
        from rich.table import Table

        def pct(x: float) -> str:
            return "—" if not math.isfinite(x) else f"{100 * x:.1f} %"

        def pm(x: float) -> str:
            return "—" if not math.isfinite(x) else f"{x:.1f}"

        sx, sy, sz = self.shift
        table = Table(
            title=f"model vs truth: matched within {self.radius:g} Å after removing the mean shift",
            caption=f"shift ({sx:.3f}, {sy:.3f}, {sz:.3f}) Å, {self.iterations} iteration(s)"
            + ("" if self.converged else ", NOT converged"),
        )
        table.add_column("")
        for name in ("all", "surface", "interior"):
            table.add_column(name, justify="right")
        surf, inner = self.regions.get("surface"), self.regions.get("interior")
        cols = [self, surf, inner]

        def row(label: str, get: Any) -> None:
            table.add_row(label, *("—" if c is None else get(c) for c in cols))

        row("true atoms", lambda c: str(c.n_truth))
        row("model atoms", lambda c: str(c.n_model))
        row("matched", lambda c: f"{c.n_matched}/{c.n_truth}")
        row("recall", lambda c: pct(c.recall))
        row("precision", lambda c: pct(c.precision))
        table.add_row("F1", pct(self.f1), "", "")
        row("RMSD (pm)", lambda c: pm(c.rmsd_pm))
        table.add_row("RMSD x, y, z (pm)", ", ".join(pm(v) for v in self.rmsd_xyz_pm), "", "")
        row("species accuracy", lambda c: pct(c.species_accuracy))
        parts: list[Any] = [table]
        if len(self.elements) > 1 or any(e != "X" for e in self.elements):
            el = Table(title="per element (a pair counts only with the true element)")
            for name in ("element", "true", "model", "matched", "correct", "recall", "precision"):
                el.add_column(name, justify="left" if name == "element" else "right")
            for s in self.elements.values():
                el.add_row(
                    s.element,
                    str(s.n_truth),
                    str(s.n_model),
                    str(s.n_matched),
                    str(s.n_correct),
                    pct(s.recall),
                    pct(s.precision),
                )
            parts.append(el)
        return Group(*parts)

    def __rich__(self) -> Any:
        return self.render()


# ---------------------------------------------------------------------------------------------- compare
def _as_model(obj: Any, name: str) -> AtomicModel:
    if isinstance(obj, AtomicModel):
        return obj
    pos = np.asarray(obj, dtype=np.float64)
    try:
        return AtomicModel(pos.reshape(0, 3) if pos.size == 0 else pos, ["X"] if pos.size else [])
    except AetInputError as exc:
        raise AetInputError(f"{name} must be an AtomicModel or an [N, 3] array of positions in Å ({exc})") from exc


def _rms(d: np.ndarray) -> float:
    """sqrt(mean |d|²) in pm of displacements in Å (NaN without rows)."""
    return float(np.sqrt(np.mean(np.sum(d**2, axis=-1))) * 100.0) if len(d) else float("nan")


def _align(
    model: np.ndarray, truth: np.ndarray, radius: float, shift0: np.ndarray, refine: bool, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Match, shift by the mean displacement of the pairs, re-match … until the shift moves < ``tol`` Å."""
    shift = shift0.astype(np.float64).copy()
    iterations, converged = 0, not refine
    while refine and iterations < max_iter:
        iterations += 1
        ia, ib = match_atoms(model + shift, truth, radius)
        if len(ia) == 0:
            break
        step = np.mean(truth[ib] - (model[ia] + shift), axis=0)
        shift = shift + step
        if np.linalg.norm(step) < tol:
            converged = True
            break
    ia, ib = match_atoms(model + shift, truth, radius)
    return shift, ia, ib, iterations, converged


def compare(
    model: AtomicModel | np.ndarray,
    truth: AtomicModel | np.ndarray,
    radius: float = 0.9,
    *,
    remove_shift: bool = True,
    initial_shift: str | np.ndarray | tuple[float, float, float] = "auto",
    tol: float = 1e-4,
    max_iter: int = 50,
    surface: np.ndarray | None = None,
    probe_radius: float | None = None,
) -> Comparison:
    """Compare a model with the true atoms: recall, precision, F1, RMSD (pm), species and surface figures.

    The model is shifted rigidly onto the truth: match one to one within ``radius`` Å (see
    :func:`match_atoms`), move the model by the mean displacement of the matched pairs, re-match, until the
    shift moves less than ``tol`` Å (at most ``max_iter`` rounds). RMSD is sqrt(mean |Δr|²) of the final
    pairs after that shift, in pm.

    Surface and interior are a split of the *truth* (:func:`aet.metrics.surface.surface_atoms`: vertices of
    the α-shape with a probe of ``probe_radius`` Å, default 2 × the median nearest-neighbour distance).

    Args:
        model: the model to score (AtomicModel, or ``[N, 3]`` positions in Å).
        truth: the true atoms (AtomicModel, or ``[M, 3]`` positions in Å).
        radius: match radius in Å (published AET figures use 0.9–1.5 Å; always report it).
        remove_shift: iterate the mean-shift removal (False: match at ``initial_shift`` as given).
        initial_shift: starting shift (x, y, z) in Å added to the model; ``"zero"``; ``"centroid"``
            (truth centroid − model centroid); or ``"auto"``: run from both and keep the result with more
            pairs (then lower RMSD), which copes with models in another origin (e.g. pixel units).
        tol: convergence of the shift in Å.
        max_iter: most match-and-shift rounds.
        surface: optional boolean mask over the true atoms overriding the α-shape rule.
        probe_radius: α-shape probe radius in Å.
    """
    model = _as_model(model, "model")
    truth = _as_model(truth, "truth")
    radius = float(radius)
    if not math.isfinite(radius) or radius <= 0:
        raise AetInputError(f"the match radius must be a positive number of Å, got {radius!r}.")
    mpos, tpos = model.positions, truth.positions
    n_model, n_truth = len(mpos), len(tpos)

    if isinstance(initial_shift, str):
        if initial_shift not in ("auto", "zero", "centroid"):
            raise AetInputError(
                f"initial_shift must be 'auto', 'zero', 'centroid' or (x, y, z) Å, not {initial_shift!r}."
            )
        centroid = tpos.mean(axis=0) - mpos.mean(axis=0) if n_model and n_truth else np.zeros(3)
        starts = {"auto": [np.zeros(3), centroid], "zero": [np.zeros(3)], "centroid": [centroid]}[initial_shift]
        if initial_shift == "auto" and np.linalg.norm(centroid) < tol:
            starts = [centroid]
    else:
        start = np.asarray(initial_shift, dtype=np.float64).reshape(-1)
        if start.shape != (3,) or not np.all(np.isfinite(start)):
            raise AetInputError(f"initial_shift must be (x, y, z) in Å, got {initial_shift!r}.")
        starts = [start]

    best = None
    for s0 in starts:
        shift, ia, ib, iterations, converged = _align(mpos, tpos, radius, s0, remove_shift, tol, max_iter)
        score = (len(ia), -_rms(tpos[ib] - mpos[ia] - shift) if len(ia) else 0.0)
        if best is None or score > best[0]:
            best = (score, shift, ia, ib, iterations, converged)
    assert best is not None
    _, shift, ia, ib, iterations, converged = best
    disp = tpos[ib] - (mpos[ia] + shift)
    n_matched = len(ia)

    melem = np.asarray(model.elements, dtype=object)
    telem = np.asarray(truth.elements, dtype=object)
    same = melem[ia] == telem[ib]

    # Surface / interior split of the truth; model atoms follow their partner or their nearest true atom.
    if surface is None:
        if probe_radius is None and n_truth >= 5:
            probe_radius = PROBE_FACTOR * nearest_neighbour_distance(tpos)
        is_surface = surface_atoms(tpos, probe_radius)
        rule = SURFACE_RULE
    else:
        is_surface = np.asarray(surface, dtype=bool).reshape(-1)
        if is_surface.shape != (n_truth,):
            raise AetInputError(
                f"surface must be a boolean mask over the {n_truth} true atoms, got {is_surface.shape}."
            )
        rule = "given by the caller"
    model_region = np.zeros(n_model, dtype=bool)
    if n_model and n_truth:
        _, nearest = cKDTree(tpos).query(mpos + shift)
        model_region = is_surface[nearest]
        model_region[ia] = is_surface[ib]
    regions: dict[str, RegionStats] = {}
    for name, flag in (("surface", True), ("interior", False)):
        t_in = is_surface == flag
        p_in = is_surface[ib] == flag
        n_p = int(p_in.sum())
        regions[name] = RegionStats(
            region=name,
            n_truth=int(t_in.sum()),
            n_model=int((model_region == flag).sum()),
            n_matched=n_p,
            recall=_ratio(n_p, t_in.sum()),
            precision=_ratio(n_p, (model_region == flag).sum()),
            rmsd_pm=_rms(disp[p_in]),
            species_accuracy=float(same[p_in].mean()) if n_p else float("nan"),
        )

    elements: dict[str, ElementStats] = {}
    for el in dict.fromkeys(list(truth.elements) + list(model.elements)):
        t_el = telem[ib] == el
        n_correct = int(np.sum(t_el & same))
        n_t, n_m = int(np.sum(telem == el)), int(np.sum(melem == el))
        elements[el] = ElementStats(
            element=el,
            n_truth=n_t,
            n_model=n_m,
            n_matched=int(t_el.sum()),
            n_correct=n_correct,
            recall=_ratio(n_correct, n_t),
            precision=_ratio(n_correct, n_m),
        )
    confusion: dict[str, dict[str, int]] = {}
    for t_el, m_el in zip(telem[ib].tolist(), melem[ia].tolist(), strict=True):
        confusion.setdefault(t_el, {}).setdefault(m_el, 0)
        confusion[t_el][m_el] += 1

    recall, precision = _ratio(n_matched, n_truth), _ratio(n_matched, n_model)
    rms_xyz = np.sqrt(np.mean(disp**2, axis=0)) * 100.0 if n_matched else np.full(3, np.nan)
    return Comparison(
        radius=radius,
        n_model=n_model,
        n_truth=n_truth,
        n_matched=n_matched,
        recall=recall,
        precision=precision,
        f1=_ratio(2 * recall * precision, recall + precision),
        rmsd_pm=_rms(disp),
        rmsd_xyz_pm=(float(rms_xyz[0]), float(rms_xyz[1]), float(rms_xyz[2])),
        shift=(float(shift[0]), float(shift[1]), float(shift[2])),
        iterations=iterations,
        converged=converged,
        species_accuracy=float(same.mean()) if n_matched else float("nan"),
        elements=elements,
        regions=regions,
        confusion=confusion,
        probe_radius=None if probe_radius is None or surface is not None else float(probe_radius),
        surface_rule=rule,
        model_index=ia,
        truth_index=ib,
        displacement=disp,
    )
