"""ADF-STEM tilt-series simulation from an atomic model: dose, shot and read noise, angle errors, drift.

Signal model (docs/conventions.md): an atom of element Z scatters a fraction σ(Z) (Å², a Z^1.7 law) of the
electrons that hit it onto the ADF detector, spread as its B-factor Gaussian. The expected counts of a pixel
are dose (e/Å²) × pixel area (Å²) × Σ σ(Z)·g(ρ) + background; the measured counts are Poisson of that, plus
Gaussian read noise. Projections come from the shared atom projector (:mod:`aet.physics.atoms`), so no voxel
volume is needed. With ``physics="multislice"`` the images come from a multislice simulation instead
(:mod:`aet.simulate.multislice`, abTEM: channelling, probe tails, thermal diffuse scattering): the fraction of the
beam on the ADF detector at each probe position, and the expected counts are that × dose × pixel area.

What a linear image leaves out can be imitated on top of either (all off by default; the networks' training draws
them at random, so that they survive a microscope's physics): a column non-linearity (channelling: bright columns
grow less than in proportion, I → I_max·(I/I_max)^γ), the probe's blur and its broad tails, scan-line jitter (each
row of the raster displaced along the fast scan) and a drift of the beam current from image to image.
Everything random comes from one seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from scipy import ndimage

from aet.elements import adf_cross_section
from aet.errors import AetInputError
from aet.model import AtomicModel, TiltSeries, as_euler_angles
from aet.physics.atoms import atoms_to_projections
from aet.simulate.multislice import MultisliceSettings, multislice_images


@dataclass
class Acquisition:
    """Microscope settings of a simulated tilt series.

    Attributes:
        pixel_size: Å per pixel.
        image_size: pixels per side (square images); ``None`` fits the model with a margin.
        dose: electrons per Å² per projection; ``None`` gives noise-free expected counts at 1 e/Å².
        b_factor: B (Å², AET convention) of atoms whose model gives none; includes probe blur.
        contrast_exponent: n of the Z^n contrast law.
        background: mean background counts per pixel (added before the shot noise).
        read_noise: standard deviation of Gaussian detector read noise, counts.
        angle_error: standard deviation of the error on each Euler angle, degrees (the series records
            the nominal angles; the true ones go into ``metadata["true_angles"]``).
        drift: standard deviation of the per-image (row, col) shift, Å (true shifts in metadata).
        linear_drift: (row, col) Å that the specimen drifts over the whole series, image by image in order.
        tilt_axis: in-plane direction of the tilt axis in the images, degrees counter-clockwise from the rows (the
            series records 0, as an instrument that does not know it; the truth goes into metadata).
        euler_convention: convention of the angles.
        seed: seed of every random choice.
        column_exponent: γ of the column non-linearity I_max·(I/I_max)^γ per image (1: linear; channelling along
            heavy columns: about 0.7–0.9).
        probe_sigma: standard deviation of a Gaussian probe blur, Å (0: none).
        probe_tail: fraction of the probe's intensity in a broad tail (0: none), of standard deviation
            ``probe_tail_sigma`` Å.
        scan_jitter: standard deviation of each scan line's displacement along the rows of the image, Å.
        intensity_drift: standard deviation of each image's beam-current factor (relative; 0.05 = 5 %).
        physics: ``"linear"`` (aet's atom projector: Z^n Gaussians) or ``"multislice"`` (abTEM, the optional extra
            ``multislice``; ``b_factor`` and ``contrast_exponent`` then play no part, the thermal motion is
            ``multislice.thermal_sigma_A``).
        multislice: the microscope and numerical settings of the multislice simulation.
    """

    pixel_size: float = 0.357
    image_size: int | None = None
    dose: float | None = 1e5
    b_factor: float = 5.0
    contrast_exponent: float = 1.7
    background: float = 0.0
    read_noise: float = 0.0
    angle_error: float = 0.0
    drift: float = 0.0
    linear_drift: tuple[float, float] = (0.0, 0.0)
    tilt_axis: float = 0.0
    euler_convention: str = "zyz"
    seed: int = 0
    column_exponent: float = 1.0
    probe_sigma: float = 0.0
    probe_tail: float = 0.0
    probe_tail_sigma: float = 2.0
    scan_jitter: float = 0.0
    intensity_drift: float = 0.0
    physics: Literal["linear", "multislice"] = "linear"
    multislice: MultisliceSettings = field(default_factory=MultisliceSettings)

    def __post_init__(self) -> None:  # before any work: a multislice series takes hours before the effects apply
        if self.physics not in ("linear", "multislice"):
            raise AetInputError(f"physics must be 'linear' or 'multislice', got {self.physics!r}.")
        if not 0.3 <= self.column_exponent <= 1.5:
            raise AetInputError(f"column_exponent must lie in 0.3–1.5 (1: linear), got {self.column_exponent}.")
        if min(self.probe_sigma, self.probe_tail, self.scan_jitter, self.intensity_drift) < 0 or self.probe_tail >= 1:
            raise AetInputError("probe_sigma, scan_jitter and intensity_drift must be ≥ 0, probe_tail in [0, 1).")


def fitting_image_size(model: AtomicModel, pixel_size: float, margin: float = 4.0) -> int:
    """Smallest even image size (pixels) that holds the model at any tilt, with ``margin`` Å on each side."""
    radius = float(np.linalg.norm(model.positions, axis=1).max()) if len(model) else 0.0
    n = int(math.ceil(2 * (radius + margin) / pixel_size))
    return n + (n % 2)


def microscope_effects(signal: np.ndarray, acq: Acquisition) -> np.ndarray:
    """``signal`` ``[n, rows, cols]`` (expected counts without background) with the column non-linearity, the probe's
    blur and tails, scan-line jitter and the beam-current drift of ``acq`` (see module docstring); unchanged when
    they are all off. Their random draws come from a stream of their own, so the other draws of a seed stay put."""
    if (acq.column_exponent, acq.probe_sigma, acq.probe_tail, acq.scan_jitter, acq.intensity_drift) == (1, 0, 0, 0, 0):
        return signal
    rng = np.random.default_rng([acq.seed, 1])
    out = np.clip(signal, 0.0, None)
    if acq.column_exponent != 1.0:
        peak = out.max(axis=(1, 2), keepdims=True)
        out = np.where(peak > 0, peak * (out / np.where(peak > 0, peak, 1.0)) ** acq.column_exponent, 0.0)
    px = acq.pixel_size
    if acq.probe_sigma or acq.probe_tail:
        core = ndimage.gaussian_filter(out, (0, acq.probe_sigma / px, acq.probe_sigma / px)) if acq.probe_sigma else out
        tail = ndimage.gaussian_filter(out, (0, acq.probe_tail_sigma / px, acq.probe_tail_sigma / px))
        out = (1 - acq.probe_tail) * core + acq.probe_tail * tail
    if acq.scan_jitter:  # the fast scan runs along each row: a whole line lands displaced along it
        cols = np.arange(out.shape[2], dtype=np.float64)
        moves = rng.normal(0.0, acq.scan_jitter / px, out.shape[:2])
        out = np.stack([[np.interp(cols - d, cols, line) for line, d in zip(img, m, strict=True)]
                        for img, m in zip(out, moves, strict=True)])  # fmt: skip
    if acq.intensity_drift:
        out = out * np.clip(1 + rng.normal(0.0, acq.intensity_drift, (len(out), 1, 1)), 0.1, None)
    return out


def simulate_tilt_series(model: AtomicModel, angles: np.ndarray, acq: Acquisition | None = None) -> TiltSeries:
    """Simulate an ADF-STEM tilt series of ``model`` (positions in Å about the rotation centre).

    Args:
        model: the specimen; its ``b_factor`` is used where present.
        angles: tilts θ in degrees, or ``[n, 3]`` Euler angles.
        acq: microscope settings (defaults: 0.357 Å pixels, 1e5 e/Å², B = 5 Å², no errors).
    """
    acq = acq or Acquisition()
    if len(model) == 0:
        raise AetInputError("the model has no atoms; build or load a particle first.")
    if acq.dose is not None and acq.dose <= 0:
        raise AetInputError(f"dose must be positive (e/Å² per projection), got {acq.dose}.")
    nominal = as_euler_angles(angles)
    rng = np.random.default_rng(acq.seed)
    true_angles = nominal + rng.normal(0.0, acq.angle_error, nominal.shape) if acq.angle_error else nominal
    shifts = rng.normal(0.0, acq.drift, (len(nominal), 2)) if acq.drift else None
    if any(acq.linear_drift):
        ramp = np.linspace(0.0, 1.0, len(nominal))[:, None] * np.asarray(acq.linear_drift, dtype=np.float64)
        shifts = ramp if shifts is None else shifts + ramp
    size = acq.image_size or fitting_image_size(model, acq.pixel_size)
    if acq.physics == "multislice":
        fraction = multislice_images(model, true_angles, (size, size), acq.pixel_size, acq.euler_convention, shifts,
                                     acq.tilt_axis, acq.multislice, progress=False)  # fmt: skip
        signal = fraction * acq.pixel_size**2 * (acq.dose or 1.0)
    elif acq.physics == "linear":
        b = model.b_factor if model.b_factor is not None else np.full(len(model), acq.b_factor)
        sigma = adf_cross_section(model.elements, acq.contrast_exponent)
        height = sigma / (b / math.pi) ** 1.5  # peak density so that the 3-D integral is σ(Z)
        proj = atoms_to_projections(
            torch.from_numpy(model.positions),
            torch.from_numpy(b),
            torch.from_numpy(height),
            true_angles,
            (size, size),
            acq.pixel_size,
            acq.euler_convention,
            shifts,
            tilt_axis=acq.tilt_axis,
        ).numpy()
        # projector units are voxel sums: × pixel size -> line integral (per Å²), × pixel area × dose -> counts
        signal = proj * acq.pixel_size**3 * (acq.dose or 1.0)
    else:
        raise AetInputError(f"physics must be 'linear' or 'multislice', got {acq.physics!r}.")
    expected = microscope_effects(signal, acq) + acq.background
    if acq.dose is None:
        images = expected
    else:
        images = rng.poisson(expected).astype(np.float64)
        if acq.read_noise:
            images += rng.normal(0.0, acq.read_noise, images.shape)
    meta = {"simulation": asdict(acq), "true_angles": true_angles.tolist(), "n_atoms": len(model)}
    if shifts is not None:
        meta["true_shifts_A"] = shifts.tolist()
    if acq.tilt_axis:
        meta["true_tilt_axis"] = acq.tilt_axis
    return TiltSeries(
        images=images.astype(np.float32),
        angles=nominal,
        pixel_size=acq.pixel_size,
        euler_convention=acq.euler_convention,
        dose=None if acq.dose is None else np.full(len(nominal), acq.dose),
        metadata=meta,
    )
