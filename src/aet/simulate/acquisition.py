"""ADF-STEM tilt-series simulation from an atomic model: dose, shot and read noise, angle errors, drift.

Signal model (docs/conventions.md): an atom of element Z scatters a fraction σ(Z) (Å², a Z^1.7 law) of the
electrons that hit it onto the ADF detector, spread as its B-factor Gaussian. The expected counts of a pixel
are dose (e/Å²) × pixel area (Å²) × Σ σ(Z)·g(ρ) + background; the measured counts are Poisson of that, plus
Gaussian read noise. Projections come from the shared atom projector (:mod:`aet.physics.atoms`), so no voxel
volume is needed. With ``physics="multislice"`` the images come from a multislice simulation instead
(:mod:`aet.simulate.multislice`, abTEM: channelling, probe tails, thermal diffuse scattering): the fraction of the
beam on the ADF detector at each probe position, and the expected counts are that × dose × pixel area.
Everything random comes from one seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch

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
    physics: Literal["linear", "multislice"] = "linear"
    multislice: MultisliceSettings = field(default_factory=MultisliceSettings)


def fitting_image_size(model: AtomicModel, pixel_size: float, margin: float = 4.0) -> int:
    """Smallest even image size (pixels) that holds the model at any tilt, with ``margin`` Å on each side."""
    radius = float(np.linalg.norm(model.positions, axis=1).max()) if len(model) else 0.0
    n = int(math.ceil(2 * (radius + margin) / pixel_size))
    return n + (n % 2)


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
        expected = fraction * acq.pixel_size**2 * (acq.dose or 1.0) + acq.background
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
        expected = proj * acq.pixel_size**3 * (acq.dose or 1.0) + acq.background
    else:
        raise AetInputError(f"physics must be 'linear' or 'multislice', got {acq.physics!r}.")
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
