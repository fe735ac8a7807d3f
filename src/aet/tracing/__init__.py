"""Atom tracing: tomogram -> atomic model (positions in Å, species, per-atom scores).

``aet.trace(volume, elements=["Fe", "Pt"])`` runs, all vectorised over atoms:

1. a light Gaussian low-pass (``smooth`` Å, default 0.3 Å: a matched filter for atoms, which steadies the fits on
   noisy tomograms: docs/benchmarks.md, "Figures behind design choices") and optional cubic-spline
   upsampling (``upsample``);
2. candidate peaks: local maxima above ``threshold`` × c × the volume's 99.9th percentile (and inside
   ``support``), where c is the expected brightness of the lightest element relative to the heaviest (the
   ADF Z^1.7 law, :func:`aet.elements.adf_cross_section`; c = 1 for one element);
3. a sub-voxel 3-D Gaussian fit around each (:mod:`aet.tracing.peaks`), giving position, height and width;
4. rejection of non-atoms: failed fits or fits with a relative residual above ``max_residual``, peaks whose
   integrated intensity is below ``min_height`` × c × the 95th percentile, and peaks broader than ``max_sigma`` Å;
5. the minimum inter-atomic distance (``min_distance`` Å, default 2.0): among peaks closer than that, the
   stronger one stays;
6. species from the integrated intensity within ``integration_radius`` Å (:mod:`aet.tracing.classify`): global
   k-means (or Gaussian mixture) into ``len(elements)`` classes, then the local re-classification within
   ``local_radius`` Å (10 Å as published) until stable. Lighter elements get the dimmer classes.

Per-atom scores kept in the model: ``height`` (fitted peak value), ``intensity`` (integrated), ``fit_residual``
(‖v − g‖/‖v‖ over the fit window), ``sigma`` (Å). ``b_factor`` is the fitted width in the AET convention,
B = 2π²σ² (Å²); it includes the reconstruction's blur, so it is a starting point for refinement, not a B of the atom.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from aet.elements import adf_cross_section, atomic_number, check_symbols
from aet.errors import AetInputError
from aet.geometry import Grid
from aet.model import AtomicModel, Volume
from aet.settings import names, updated
from aet.settings.trace import FALLBACK_MIN_HEIGHT, FALLBACK_THRESHOLD, TraceSettings
from aet.tracing.classify import check_species, estimate_species_count, global_classes, local_reclassify
from aet.tracing.peaks import ball_sums, fit_peaks, local_maxima


def trace(
    volume: Volume,
    elements: Sequence[str] = ("Pt",),
    settings: TraceSettings | None = None,
    *,
    species_volume: Volume | None = None,
    support_mask: np.ndarray | Volume | None = None,
    **options: Any,
) -> AtomicModel:
    """Trace the atoms of a tomogram (see module docstring).

    Args:
        volume: the tomogram or a network's output (voxel size in Å, origin = position of voxel [0, 0, 0] in Å).
            A network output carries its model card's tracing recommendation (``metadata["augment"]["trace"]``),
            which fills the settings left at ``None`` ("auto").
        elements: species present, any order (sorted by Z internally: brighter class = heavier element).
        settings: :class:`TraceSettings` (every default lives there); ``**options`` set single fields by name.
        species_volume: tomogram whose integrated intensities decide the species (same grid as ``volume``);
            pass the reconstruction when tracing an augmented volume, whose peaks all have height ~1.
        support_mask: boolean mask (array or Volume, same shape as ``volume``); peaks outside are dropped. A mask
            may also be passed as ``support=``; ``support="auto"`` computes the particle's envelope.

    Returns:
        The atoms (positions in Å, species, B in the AET convention, per-atom scores); the settings used are in
        ``metadata["trace"]["settings"]``.
    """
    if not isinstance(volume, Volume):
        raise AetInputError(f"trace needs a Volume, got {type(volume).__name__}; load one with aet.io.read.")
    if "support" in options and options["support"] is not None and not isinstance(options["support"], str):
        support_mask = options.pop("support")
    s = with_recommendation(updated(settings or TraceSettings(), options), volume)
    species = sorted(set(check_symbols(elements, unknown=False)), key=lambda e: int(atomic_number([e])[0]))
    if not species:
        raise AetInputError("give at least one element, e.g. elements=['Pt'].")
    check_species(species)
    vs = volume.voxel_size
    extent = vs * max(volume.shape)
    min_distance, smooth, upsample = s.min_distance, s.smooth, s.upsample
    threshold = FALLBACK_THRESHOLD if s.threshold is None else s.threshold
    min_height = FALLBACK_MIN_HEIGHT if s.min_height is None else s.min_height
    integration_radius = s.integration_radius
    if not 0 < min_distance < extent:
        raise AetInputError(
            f"min_distance = {min_distance} Å must be positive and smaller than the volume ({extent:.1f} Å across); "
            "it is the closest allowed distance between two atoms, e.g. 2.0 Å (Si: 1.9 Å)."
        )
    if s.fit_radius <= 0 or integration_radius <= 0 or s.max_sigma <= 0:
        raise AetInputError("fit_radius, integration_radius and max_sigma are lengths in Å and must be positive.")
    if species_volume is not None and (
        not isinstance(species_volume, Volume)
        or species_volume.shape != volume.shape
        or abs(species_volume.voxel_size - vs) > 1e-6 * vs
    ):
        raise AetInputError("species_volume must be a Volume on the same grid (shape and voxel size) as the volume.")
    record = {
        "elements": species, "min_distance_A": min_distance, "threshold": threshold, "min_height": min_height,
        "max_sigma_A": s.max_sigma, "max_residual": s.max_residual, "fit_radius_A": s.fit_radius,
        "integration_radius_A": integration_radius, "smooth_A": smooth, "upsample": upsample,
        "classify": s.classify, "local_radius_A": s.local_radius, "seed": s.seed,
        "species_volume": species_volume is not None, "threshold_contrast": None,
        "support": "given" if support_mask is not None else s.support or "none",
    }  # fmt: skip
    data = volume.data.astype(np.float64)
    if smooth > 0:
        data = ndimage.gaussian_filter(data, smooth / vs)
    if support_mask is None and s.support == "auto":  # peaks outside the envelope (noise, streaks) are not atoms
        from aet.reconstruction.setup import auto_support

        support_mask = auto_support(volume.data, vs)
    elif support_mask is None and s.support is not None:
        raise AetInputError(f"support {s.support!r} names a file; read it with aet.io.read_volume, pass support_mask.")
    mask = _support(support_mask, volume.shape)
    step = vs / upsample
    if upsample > 1:
        out_shape = [(n - 1) * upsample + 1 for n in data.shape]  # so that input index = output index / upsample
        factors = [o / n for o, n in zip(out_shape, data.shape, strict=True)]
        data = ndimage.zoom(data, factors, order=3)
        if mask is not None:
            mask = ndimage.zoom(mask.astype(np.uint8), factors, order=0) > 0

    top = float(np.percentile(data, 99.9))
    if not np.ptp(data) > 0 or top <= 0:
        return _empty(species, record, "the volume is empty or constant: no atoms were traced.")
    # the lightest element's expected brightness relative to the heaviest's (ADF Z^n law): thresholds scale by it
    contrast = float(adf_cross_section(species[:1])[0] / adf_cross_section(species[-1:])[0])
    if s.equal_heights if s.equal_heights is not None else species_volume is not None:
        contrast = 1.0
    record["threshold_contrast"] = contrast
    seeds = local_maxima(data, threshold * contrast * top)
    if mask is not None:
        seeds = seeds[mask[tuple(seeds.T)]]
    counts = {"candidates": len(seeds)}
    fit = fit_peaks(data, seeds, w=max(1, int(round(s.fit_radius / step))))
    # width of the peak in the tomogram, Å: the low-pass added smooth² to every variance, take it back off
    sigma_all = np.sqrt(np.clip((fit.sigma * step) ** 2 - smooth**2, 0.0, None))
    keep = fit.ok & (fit.residual <= s.max_residual)
    counts["failed_fit"] = int((~keep).sum())
    # integrated intensity on the original grid (Å³-weighted voxel sum), for the weak-peak test and the species
    intensity = ball_sums(volume.data.astype(np.float64), fit.centre / upsample, integration_radius / vs) * vs**3
    if keep.any():
        weak = intensity < min_height * contrast * np.percentile(intensity[keep], 95)
        broad = ~(sigma_all <= s.max_sigma)
        counts["too_weak"] = int((keep & weak).sum())
        counts["too_broad"] = int((keep & ~weak & broad).sum())
        keep &= ~weak & ~broad
    idx = np.flatnonzero(keep)
    idx = idx[_min_distance(fit.centre[idx] * step, fit.height[idx], min_distance)]
    counts["too_close"] = int(keep.sum() - len(idx))
    if len(idx) == 0:
        return _empty(species, record, "no peak passed the atom criteria: no atoms were traced.", counts)

    centre = fit.centre[idx]
    positions = Grid(data.shape, step, volume.origin).to_position(centre)  # the (upsampled) grid: voxels -> Å
    intensity = intensity[idx]
    if species_volume is not None:
        source = species_volume.data.astype(np.float64)
        intensity = ball_sums(source, centre / upsample, integration_radius / vs) * vs**3
    n_est = estimate_species_count(intensity, max_species=max(4, len(species)), seed=s.seed)
    labels = global_classes(intensity, species, s.classify, s.seed)
    rounds = 0
    if s.local_radius > 0:
        labels, rounds = local_reclassify(positions, intensity, labels, len(species), s.local_radius)
    sigma = sigma_all[idx]
    meta = {
        "trace": {
            "settings": record, "counts": counts, "estimated_species": n_est, "local_rounds": rounds,
            "voxel_size_A": vs, "b_factor_convention": "AET: H·exp(−π² r² / B), B = 2π²σ²",
        }
    }  # fmt: skip
    if n_est != len(species):
        meta["trace"]["note"] = (
            f"the intensities suggest {n_est} species but {len(species)} element(s) were given ({', '.join(species)})."
        )
    return AtomicModel(
        positions=positions,
        elements=[species[k] for k in labels],
        b_factor=2 * np.pi**2 * sigma**2,
        height=fit.height[idx],
        labels=labels,
        scores={"height": fit.height[idx], "intensity": intensity, "fit_residual": fit.residual[idx], "sigma": sigma},
        metadata=meta,
    )


def with_recommendation(settings: TraceSettings, volume: Volume) -> TraceSettings:
    """``settings`` with the fields left at ``None`` ("auto") taken from the tracing recommendation that a network
    output carries from its model card (``volume.metadata["augment"]["trace"]``); unchanged for other volumes."""
    augment = volume.metadata.get("augment")
    recommended = augment.get("trace", {}) if isinstance(augment, dict) else {}
    fill = {k: v for k, v in recommended.items() if k in names(TraceSettings) and getattr(settings, k) is None}
    return updated(settings, fill, "the model card's [trace] recommendation")


def _support(support: Any, shape: tuple[int, int, int]) -> np.ndarray | None:
    if support is None:
        return None
    arr = np.asarray(support.data if isinstance(support, Volume) else support)
    if arr.shape != tuple(shape):
        raise AetInputError(f"the support mask has shape {arr.shape} but the volume is {tuple(shape)} (z, y, x).")
    return arr > 0


def _min_distance(positions: np.ndarray, height: np.ndarray, d: float) -> np.ndarray:
    """Indices (into ``positions``) kept when, of every pair closer than ``d`` Å, only the stronger may stay.

    Greedy in order of decreasing height (a kept peak removes its weaker neighbours), as in the published
    tracing codes. The loop is over peaks with a close neighbour only, through a sparse neighbour matrix.
    """
    n = len(positions)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(positions).query_pairs(d, output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(n)
    adj = csr_matrix(
        (np.ones(2 * len(pairs), dtype=bool), (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])),
        shape=(n, n),
    )
    removed = np.zeros(n, dtype=bool)
    crowded = np.unique(pairs)
    for i in crowded[np.argsort(-height[crowded], kind="stable")]:
        if not removed[i]:
            removed[adj.indices[adj.indptr[i] : adj.indptr[i + 1]]] = True
    return np.flatnonzero(~removed)


def _empty(species: list[str], settings: dict, message: str, counts: dict | None = None) -> AtomicModel:
    warnings.warn(message, stacklevel=3)
    meta = {"trace": {"settings": settings, "counts": counts or {}, "message": message}}
    return AtomicModel(np.zeros((0, 3)), [], metadata=meta)


__all__ = ["TraceSettings", "trace", "with_recommendation"]
