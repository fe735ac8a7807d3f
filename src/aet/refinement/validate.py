"""Checks that a model and a tilt series belong together before any refinement or R-factor."""

from __future__ import annotations

import numpy as np

from aet.errors import AetInputError
from aet.geometry import beam_frame, centre_index
from aet.model import AtomicModel, TiltSeries
from aet.prepare.sampling import bright_width


def check_inputs(model: AtomicModel, ts: TiltSeries) -> None:
    """Refuse models that are empty, hold NaNs, fall outside the field of view, or look like another pixel size."""
    if not isinstance(model, AtomicModel) or not isinstance(ts, TiltSeries):
        raise AetInputError("give an AtomicModel and a TiltSeries (load them with aet.io.read).")
    if len(model) == 0:
        raise AetInputError("the model has no atoms; trace or load one first.")
    pos = np.asarray(model.positions)
    if not np.isfinite(pos).all():
        bad = int((~np.isfinite(pos).all(1)).sum())
        raise AetInputError(f"{bad} atom position(s) are NaN or infinite; remove or fix them before refining.")
    rows, cols = ts.images.shape[1:]
    seen = _in_images(pos, ts)
    never, sometimes = ~seen.any(0), ~seen.all(0)
    # an atom that leaves the field of view at high tilt is normal in a film (its signal enters the images only at
    # some tilts, and the projector models exactly that), and one in no image adds nothing to the prediction; most
    # atoms outside, though, mean a wrong pixel size or frame
    if never.mean() > 0.5 or sometimes.mean() > 0.5:
        n_out = int(never.sum()) if never.mean() > 0.5 else int(sometimes.sum())
        where = "in no image" if never.mean() > 0.5 else "outside the images at some tilt"
        raise AetInputError(
            f"{n_out} of {len(model)} atoms project {where} of the {rows}×{cols}-pixel field of view (pixel size "
            f"{ts.pixel_size:g} Å); check the pixel size, that positions are in Å about the rotation centre, and "
            "that model and images belong together."
        )
    from aet.prepare.sample import detect_sample

    if detect_sample(ts)[0] != "film":  # a film fills the images: they show no particle width to compare with
        _check_extent(pos, ts)


def inside_field_of_view(positions: np.ndarray, ts: TiltSeries) -> np.ndarray:
    """Boolean mask of the atoms (x, y, z in Å) that project inside every image of ``ts``."""
    return _in_images(positions, ts).all(0)


def in_some_image(positions: np.ndarray, ts: TiltSeries) -> np.ndarray:
    """Boolean mask of the atoms (x, y, z in Å) that project inside at least one image of ``ts``."""
    return _in_images(positions, ts).any(0)


def _in_images(positions: np.ndarray, ts: TiltSeries) -> np.ndarray:
    """``[n_images, n_atoms]``: whether each atom projects inside each image."""
    rows, cols = ts.images.shape[1:]
    uv = np.einsum("nij,aj->nai", beam_frame(ts.angles, ts.euler_convention)[:, :2], positions) / ts.pixel_size
    col = uv[..., 0] + centre_index(cols)
    row = uv[..., 1] + centre_index(rows)
    if ts.shifts is not None:
        row, col = row + ts.shifts[:, None, 0] / ts.pixel_size, col + ts.shifts[:, None, 1] / ts.pixel_size
    return ~((col < 0) | (col > cols - 1) | (row < 0) | (row > rows - 1))


def _check_extent(pos: np.ndarray, ts: TiltSeries) -> None:
    """The model's lateral size must match the bright region of the images (a wrong pixel size shows here).

    Both widths are robust: the background is the dimmest 5 % of the column sums (a particle may fill most of the
    field of view, so not their median), and the model's width spans its 1st to 99th percentile along x (a few
    spurious traced atoms in missing-wedge streaks must not count).
    """
    img_width = bright_width(ts.images.mean(0).sum(0), ts.pixel_size, 0.2)  # along x
    if img_width is None:
        return
    lo, hi = np.percentile(pos[:, 0], [1, 99])
    model_width = float(hi - lo) + 2.0  # one atom radius each side
    ratio = model_width / img_width
    if not 0.5 < ratio < 2.0:
        raise AetInputError(
            f"the model is {model_width:.1f} Å wide but the particle in the images is {img_width:.1f} Å wide at "
            f"{ts.pixel_size:g} Å per pixel (ratio {ratio:.2f}); the pixel size or the model's units are probably "
            "wrong."
        )
