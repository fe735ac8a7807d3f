"""ADF-STEM images by multislice (abTEM): channelling, the probe's shape and tails, thermal diffuse scattering.

aet's own projector (:mod:`aet.physics.atoms`) makes linear images: each atom a Gaussian of weight Z^n. A microscope
does not: along a zone axis the probe channels down the columns, its tails light up the neighbours, thermal diffuse
scattering sends electrons to the ADF detector, and the signal grows non-linearly with Z and thickness. This module
computes the images a real ADF-STEM would record, with abTEM (optional extra ``multislice``: ``pip install
'aet[multislice]'``): for every projection the specimen is rotated into the beam frame of
:func:`aet.geometry.detector_frame` (the frame the linear projector uses), sliced into a potential (frozen phonons),
and a probe is scanned over the image pixels; an annular detector integrates the scattered intensity.

Each image is the fraction of the incident beam that reaches the detector at each probe position; the expected
counts are that fraction × dose (e/Å²) × pixel area (Å²), as for the linear model. Images are cached on disk by the
hash of everything that decides them (atoms, angle, geometry, settings), so a tilt series that was cut off resumes at
the next projection and a repeated simulation costs nothing (``AET_CACHE`` or ``~/.cache/aet/multislice``).

Units: Å, degrees, mrad, keV; the thermal vibration is the RMS displacement along each axis (Å).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aet.errors import AetInputError
from aet.geometry import centre_index, detector_frame
from aet.io.atomic import atomic_paths
from aet.model import AtomicModel, as_euler_angles
from aet.progress import progress_bar

#: The specimen's margin beyond the scanned field in the potential (Å): the probe's tails reach this far, and
#: abTEM's potential is periodic, so atoms near one edge must not light up the other.
MARGIN = 4.0


@dataclass(frozen=True)
class MultisliceSettings:
    """The microscope and numerical settings of a multislice ADF-STEM simulation (units in the names)."""

    energy_kev: float = 300.0
    convergence_mrad: float = 25.0
    detector_mrad: tuple[float, float] = (40.0, 160.0)
    defocus_A: float = 0.0
    cs_mm: float = 0.0  #: spherical aberration C3 (mm)
    thermal_sigma_A: float = 0.08  #: RMS thermal displacement along each axis (frozen phonons)
    phonons: int = 4  #: frozen-phonon configurations averaged
    slice_A: float = 1.0  #: slice thickness of the potential
    sampling_A: float = 0.04  #: real-space sampling of the potential and the probe (0.04 Å: 164 mrad at 300 keV)
    seed: int = 0
    device: str = "cpu"  #: "cpu" or "gpu" (abTEM's CuPy path)
    #: PRISM (Ophus 2017; abTEM's SMatrix) with this interpolation factor instead of one multislice per probe
    #: position: the cost falls about as its square, the probe is cut off at 1/factor of the cell (None: off)
    prism_interpolation: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  #: further abTEM probe aberrations, e.g. {"C12": 5.0}

    def __post_init__(self) -> None:
        inner, outer = self.detector_mrad
        if not 0 <= inner < outer:
            raise AetInputError(f"detector_mrad must be (inner, outer), 0 ≤ inner < outer; got {self.detector_mrad}.")
        limit = 2 / 3 * _max_angle_mrad(self.energy_kev, self.sampling_A)  # abTEM's antialiasing aperture
        if outer > limit:
            raise AetInputError(
                f"the detector's outer angle {outer:g} mrad exceeds the {limit:.0f} mrad that a sampling of "
                f"{self.sampling_A:g} Å resolves at {self.energy_kev:g} keV; use a finer sampling_A or a smaller "
                "outer angle."
            )
        if self.phonons < 1 or self.slice_A <= 0 or self.sampling_A <= 0:
            raise AetInputError("phonons must be ≥ 1, slice_A and sampling_A positive.")
        if self.prism_interpolation is not None and self.prism_interpolation < 1:
            raise AetInputError(f"prism_interpolation must be ≥ 1 (or None: off), got {self.prism_interpolation}.")
        if self.device not in ("cpu", "gpu"):
            raise AetInputError(f"device must be 'cpu' or 'gpu', got {self.device!r}.")


def _max_angle_mrad(energy_kev: float, sampling: float) -> float:
    """Largest scattering angle (mrad) a real-space sampling (Å) represents: λ / (2·sampling)."""
    m0c2 = 510.99895  # keV
    wavelength = 12.3984198 / np.sqrt(energy_kev * (2 * m0c2 + energy_kev))  # Å, relativistic
    return 1e3 * wavelength / (2 * sampling)


def multislice_images(model: AtomicModel, angles: np.ndarray, image_shape: tuple[int, int], pixel_size: float,
                      convention: str = "zyz", shifts: np.ndarray | None = None, tilt_axis: float = 0.0,
                      settings: MultisliceSettings | None = None, progress: bool = True,
                      cache: Path | None = None) -> np.ndarray:  # fmt: skip
    """ADF-STEM images ``[n, rows, cols]`` of ``model``, the fraction of the beam on the detector per pixel.

    Args:
        model: positions (x, y, z) in Å about the rotation centre, elements.
        angles: ``[n, 3]`` Euler angles (degrees) or ``[n]`` tilts about y.
        image_shape: (rows, cols); pixel (rows//2, cols//2) sees the rotation centre, as in the atom projector.
        pixel_size: Å per pixel (the probe's scan step).
        shifts: optional ``[n, 2]`` (row, col) Å specimen shifts per image (drift).
        tilt_axis: in-plane direction of the tilt axis, degrees counter-clockwise from the rows.
        cache: folder of cached images (default ``AET_CACHE`` or ``~/.cache/aet/multislice``).
    """
    abtem = _abtem()
    s = settings or MultisliceSettings()
    ang = as_euler_angles(angles)
    frames = detector_frame(ang, convention, tilt_axis)
    rows, cols = image_shape
    folder = Path(cache or os.environ.get("AET_CACHE", Path.home() / ".cache" / "aet")) / "multislice"
    out = np.empty((len(ang), rows, cols))
    with progress_bar(len(ang), "multislice", progress) as advance:
        for i, frame in enumerate(frames):
            beam = model.positions @ frame.T  # (x', y', z') Å
            if shifts is not None:
                beam[:, 0] += shifts[i][1]
                beam[:, 1] += shifts[i][0]
            key = _key(beam, model.elements, image_shape, pixel_size, s)
            path = folder / f"{key}.npy"
            if path.exists():
                out[i] = np.load(path, allow_pickle=False)
            else:
                out[i] = _one_image(abtem, beam, model.elements, image_shape, pixel_size, s)
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_paths(path) as (tmp,):
                    with open(tmp, "wb") as fh:
                        np.save(fh, out[i], allow_pickle=False)
            advance()
    return out


def _key(beam: np.ndarray, elements: list[str], shape: tuple[int, int], pixel: float, s: MultisliceSettings) -> str:
    h = hashlib.sha256(np.round(beam, 6).tobytes())
    h.update(json.dumps([elements, list(shape), pixel, asdict(s), "abtem", _abtem().__version__]).encode())
    return h.hexdigest()[:24]


def _one_image(abtem: Any, beam: np.ndarray, elements: list[str], shape: tuple[int, int], pixel: float,
               s: MultisliceSettings, window: tuple[int, int, int, int] | None = None) -> np.ndarray:  # fmt: skip
    """One projection: the atoms in the beam frame into a box with :data:`MARGIN` around the image's field; the
    probe scans every pixel, or only rows r0:r1 and columns c0:c1 of ``window`` (the cost per probe position of the
    whole image, for the benchmark)."""
    from ase import Atoms

    rows, cols = shape
    # scanned field: column c sees x' = (c − cols//2)·pixel; row r sees y' = (r − rows//2)·pixel
    lo = np.array([-centre_index(cols) * pixel, -centre_index(rows) * pixel])
    hi = lo + np.array([cols * pixel, rows * pixel])
    inside = np.all((beam[:, :2] > lo - MARGIN) & (beam[:, :2] < hi + MARGIN), axis=1)
    origin = np.array([lo[0] - MARGIN, lo[1] - MARGIN, beam[:, 2].min() - MARGIN])
    extent = np.array([hi[0] - lo[0] + 2 * MARGIN, hi[1] - lo[1] + 2 * MARGIN,
                       np.ptp(beam[:, 2]) + 2 * MARGIN])  # fmt: skip
    atoms = Atoms([e for e, k in zip(elements, inside, strict=True) if k], positions=beam[inside] - origin,
                  cell=extent, pbc=True)  # fmt: skip
    phonons = abtem.FrozenPhonons(atoms, num_configs=s.phonons, sigmas=s.thermal_sigma_A, seed=s.seed)
    potential = abtem.Potential(phonons, sampling=s.sampling_A, slice_thickness=s.slice_A, device=s.device)
    aberrations = {"C10": -s.defocus_A, "C30": s.cs_mm * 1e7, **s.extra}
    r0, r1, c0, c1 = window or (0, rows, 0, cols)
    first = lo - origin[:2] + np.array([c0, r0]) * pixel
    scan = abtem.GridScan(start=tuple(first), end=tuple(first + np.array([c1 - c0, r1 - r0]) * pixel),
                          gpts=(c1 - c0, r1 - r0), endpoint=False)  # fmt: skip
    detector = abtem.AnnularDetector(inner=s.detector_mrad[0], outer=s.detector_mrad[1])
    energy = s.energy_kev * 1e3
    if s.prism_interpolation:  # every plane wave of the probe's aperture once through the specimen, then per position
        smatrix = abtem.SMatrix(potential=potential, energy=energy, semiangle_cutoff=s.convergence_mrad,
                                interpolation=s.prism_interpolation, device=s.device)  # fmt: skip
        ctf = abtem.CTF(semiangle_cutoff=s.convergence_mrad, aberration_coefficients=aberrations, energy=energy)
        measured = smatrix.scan(scan=scan, detectors=detector, ctf=ctf).compute(progress_bar=False)
    else:
        probe = abtem.Probe(energy=energy, semiangle_cutoff=s.convergence_mrad, aberrations=aberrations,
                            device=s.device)  # fmt: skip
        measured = probe.scan(potential, scan=scan, detectors=detector).compute(progress_bar=False)
    image = np.asarray(measured.array)
    if image.ndim == 3:  # frozen phonons not yet averaged
        image = image.mean(0)
    image = image.T  # abTEM's scan axes are (x, y): (col, row)
    if image.shape != (r1 - r0, c1 - c0):
        raise AetInputError(f"abTEM returned a {image.shape} scan for a {(r1 - r0, c1 - c0)} image; report this.")
    return image


def _abtem() -> Any:
    try:
        import abtem
    except ImportError:
        raise AetInputError(
            "multislice simulation needs abTEM, an optional extra: pip install 'aet[multislice]' (or pip install "
            "abtem)."
        ) from None
    return abtem
