"""The three data objects that flow through aet: TiltSeries, Volume and AtomicModel.

Geometry (see docs/conventions.md): a right-handed lab frame (x, y, z) in Å. A volume array is indexed
``[z, y, x]``; the beam runs along +z at zero tilt, so the 0° projection is ``volume.sum(axis=0)``. Images
are indexed ``[n, rows, cols] = [n, y, x]``; the tilt axis is y (image rows run along it). Lengths are Å,
angles are degrees, and Euler angles are stored with their convention ("zyz" or "zyx").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from aet.errors import AetInputError
from aet.geometry import EULER_CONVENTIONS as EULER_CONVENTIONS  # re-exported: aet.model kept them
from aet.geometry import Grid, is_single_axis
from aet.geometry import as_euler_angles as as_euler_angles

if TYPE_CHECKING:
    import ase


def _finite(name: str, arr: npt.NDArray[Any]) -> None:
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise AetInputError(
            f"{name} contains {bad} NaN or infinite value(s); clean or mask them before loading into aet."
        )


def _real(name: str, arr: npt.NDArray[Any]) -> None:
    if np.iscomplexobj(arr):
        raise AetInputError(
            f"{name} are complex (dtype {arr.dtype}), but aet needs real values; pass the magnitude (np.abs) or the "
            "real part (.real)."
        )


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise AetInputError(f"{name} must be a positive number of Å, got {value!r}.")
    return value


@dataclass
class TiltSeries:
    """A stack of projection images with their geometry.

    Attributes:
        images: ``[n, rows, cols]`` float32 projections (rows run along the tilt axis y).
        angles: ``[n, 3]`` Euler angles (φ, θ, ψ) in degrees; θ is the tilt about y.
        pixel_size: image pixel size in Å.
        euler_convention: ``"zyz"`` (GENFIRE) or ``"zyx"`` (RESIRE); how (φ, θ, ψ) compose.
        tilt_axis: in-plane direction of the tilt axis in degrees, counter-clockwise from image axis 0
            (rows); 0 means the images are already aligned so that the tilt axis runs along the rows.
        shifts: optional ``[n, 2]`` per-image (row, col) shifts in Å.
        dose: optional ``[n]`` dose per image in e/Å².
        metadata: free-form extra information (kept in a JSON sidecar where a format cannot hold it).
    """

    images: npt.NDArray[np.float32]
    angles: npt.NDArray[np.float64]
    pixel_size: float = 1.0
    euler_convention: str = "zyz"
    tilt_axis: float = 0.0
    shifts: npt.NDArray[np.float64] | None = None
    dose: npt.NDArray[np.float64] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim == 2:
            raise AetInputError(
                f"a tilt series needs a stack [n, rows, cols], got one 2-D image of shape {images.shape}; "
                "wrap a single projection as images[None]."
            )
        if images.ndim != 3:
            raise AetInputError(f"a tilt series needs a 3-D stack [n, rows, cols], got shape {images.shape}.")
        if not np.issubdtype(images.dtype, np.number):
            raise AetInputError(f"tilt-series images must be numeric, got dtype {images.dtype}.")
        _real("tilt-series images", images)
        # every array is stored C-contiguous in its declared dtype: no stage meets a Fortran-ordered or strided view
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        _finite("tilt-series images", self.images)
        self.angles = np.ascontiguousarray(as_euler_angles(self.angles))
        n = self.images.shape[0]
        if self.angles.shape[0] != n:
            raise AetInputError(
                f"{self.angles.shape[0]} angles were given for {n} images; give exactly one angle per image "
                "(check that the image axis is first and that no angle was dropped)."
            )
        if self.euler_convention not in EULER_CONVENTIONS:
            raise AetInputError(f"unknown Euler convention {self.euler_convention!r}; use one of {EULER_CONVENTIONS}.")
        self.pixel_size = _positive("pixel_size", self.pixel_size)
        self.tilt_axis = float(self.tilt_axis)
        if self.shifts is not None:
            self.shifts = np.ascontiguousarray(self.shifts, dtype=np.float64)
            if self.shifts.shape != (n, 2):
                raise AetInputError(f"shifts must be [n, 2] = [{n}, 2] in Å, got {self.shifts.shape}.")
            _finite("shifts", self.shifts)
        if self.dose is not None:
            self.dose = np.ascontiguousarray(self.dose, dtype=np.float64).reshape(-1)
            if self.dose.shape != (n,):
                raise AetInputError(f"dose must have one value per image ({n}), got {self.dose.shape[0]}.")

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def tilt_angles(self) -> npt.NDArray[np.float64]:
        """θ of each image in degrees."""
        return self.angles[:, 1]

    def subset(self, which: Any) -> TiltSeries:
        """The images ``which`` (indices or a boolean mask) with their angles, shifts and doses."""
        idx = np.arange(self.n_images)[which]
        if idx.size == 0:
            raise AetInputError("the selection holds no images.")
        shifts = None if self.shifts is None else self.shifts[idx]
        dose = None if self.dose is None else self.dose[idx]
        meta = dict(self.metadata)
        if "predicted" in meta:
            meta["predicted"] = [bool(meta["predicted"][i]) for i in idx]
        return replace(self, images=self.images[idx], angles=self.angles[idx], shifts=shifts, dose=dose,
                       metadata=meta)  # fmt: skip

    def measured(self) -> TiltSeries:
        """The measured images only, without the projections that sinogram inpainting predicted
        (``metadata["predicted"]``, :mod:`aet.nn.inpaint`): what refinement and the R-factor fit."""
        flags = self.metadata.get("predicted")
        if not flags or not any(flags):
            return self
        kept = self.subset(~np.asarray(flags, dtype=bool))
        return replace(kept, metadata={k: v for k, v in kept.metadata.items() if k != "predicted"})

    def is_single_axis(self, tol_deg: float = 1e-4) -> bool:
        """True when every image is a pure tilt about y to within ``tol_deg`` degrees (see
        :func:`aet.geometry.is_single_axis`: decided on the rotation matrices, so (180, θ, 180) in "zyz" counts)."""
        return is_single_axis(self.angles, self.euler_convention, tol_deg)


@dataclass
class Volume:
    """A 3-D tomogram.

    Attributes:
        data: ``[z, y, x]`` float32 array.
        voxel_size: edge of a cubic voxel in Å.
        origin: ``(z, y, x)`` position of voxel ``[0, 0, 0]`` in Å.
        metadata: free-form extra information.
    """

    data: npt.NDArray[np.float32]
    voxel_size: float = 1.0
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise AetInputError(f"a volume must be a 3-D array [z, y, x], got shape {data.shape}.")
        if not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
            raise AetInputError(f"volume data must be numeric, got dtype {data.dtype}.")
        _real("volume data", data)
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        _finite("volume", self.data)
        self.voxel_size = _positive("voxel_size", self.voxel_size)
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,):
            raise AetInputError(f"origin must be (z, y, x) in Å, got {self.origin!r}.")
        self.origin = (float(origin[0]), float(origin[1]), float(origin[2]))

    @property
    def shape(self) -> tuple[int, int, int]:
        nz, ny, nx = self.data.shape
        return (nz, ny, nx)

    @property
    def grid(self) -> Grid:
        """The voxel grid: shape, voxel size and origin (voxel index ↔ position in Å)."""
        return Grid(self.shape, self.voxel_size, self.origin)


@dataclass
class AtomicModel:
    """Atom positions with species and optional per-atom parameters.

    Attributes:
        positions: ``[N, 3]`` Cartesian (x, y, z) positions in Å.
        elements: ``N`` element symbols ("Pt", "Fe", ...).
        b_factor: optional ``[N]`` B in Å², AET convention: an atom is H·exp(−π² r² / B),
            i.e. a Gaussian of standard deviation σ = √(B/2)/π (twice as wide as the crystallographic
            Debye–Waller blur with the same B).
        height: optional ``[N]`` peak height H of that Gaussian (arbitrary units or probability per Å³).
        labels: optional ``[N]`` integer labels (e.g. species class from tracing).
        scores: optional per-atom arrays (fit quality, intensity, ...), each ``[N]``.
        metadata: free-form extra information.
    """

    positions: npt.NDArray[np.float64]
    elements: list[str]
    b_factor: npt.NDArray[np.float64] | None = None
    height: npt.NDArray[np.float64] | None = None
    labels: npt.NDArray[np.int64] | None = None
    scores: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _real("atom positions", np.asarray(self.positions))
        pos = np.asarray(self.positions, dtype=np.float64)
        if pos.ndim == 2 and pos.shape[1] != 3 and pos.shape[0] == 3:
            pos = pos.T
        if pos.size == 0:
            pos = pos.reshape(0, 3)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise AetInputError(f"positions must be [N, 3] (x, y, z) in Å, got shape {np.shape(self.positions)}.")
        _finite("atom positions", pos)
        self.positions = np.ascontiguousarray(pos)  # C order: torch views of it (L-BFGS) need contiguous memory
        n = pos.shape[0]
        elements = [str(e) for e in np.asarray(self.elements).reshape(-1)]
        if len(elements) == 1 and n > 1:
            elements = elements * n
        if len(elements) != n:
            raise AetInputError(
                f"the model has {n} positions but {len(elements)} element/type entries; the lists must match "
                "one to one (drop or fix the extra entries in the source file explicitly)."
            )
        from aet.elements import check_symbols

        self.elements = check_symbols(elements)
        for name in ("b_factor", "height", "labels"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.ascontiguousarray(value, dtype=np.int64 if name == "labels" else np.float64).reshape(-1)
            if arr.size == 1 and n != 1:
                arr = np.full(n, arr[0], dtype=arr.dtype)
            if arr.shape != (n,):
                raise AetInputError(f"{name} must have one value per atom ({n}), got {arr.shape[0]}.")
            _finite(name, arr)
            setattr(self, name, arr)
        scores = {}
        for key, value in self.scores.items():
            arr = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
            if arr.shape != (n,):
                raise AetInputError(f"score {key!r} must have one value per atom ({n}), got {arr.shape[0]}.")
            scores[key] = arr
        self.scores = scores

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def subset(self, which: Any) -> AtomicModel:
        """The atoms selected by a boolean mask or an index array, with their per-atom arrays and metadata."""
        idx = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which, dtype=np.int64)

        def pick(arr: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
            return None if arr is None else arr[idx]

        return AtomicModel(
            self.positions[idx], [self.elements[i] for i in idx], b_factor=pick(self.b_factor),
            height=pick(self.height), labels=pick(self.labels), scores={k: v[idx] for k, v in self.scores.items()},
            metadata=dict(self.metadata),
        )  # fmt: skip

    @property
    def species(self) -> list[str]:
        """Distinct element symbols, in order of first appearance."""
        return list(dict.fromkeys(self.elements))

    def to_ase(self) -> ase.Atoms:
        """Return an ``ase.Atoms`` with the per-atom arrays attached."""
        import ase

        atoms = ase.Atoms(symbols=self.elements, positions=self.positions)
        # ase leaves Atoms.set_array unannotated, hence the narrow ignores below.
        for name in ("b_factor", "height", "labels"):
            value = getattr(self, name)
            if value is not None:
                atoms.set_array(name, value)  # type: ignore[no-untyped-call]
        for key, value in self.scores.items():
            atoms.set_array(f"score_{key}", value)  # type: ignore[no-untyped-call]
        atoms.info.update({k: v for k, v in self.metadata.items() if isinstance(v, (str, int, float, bool))})
        return atoms

    @classmethod
    def from_ase(cls, atoms: ase.Atoms) -> AtomicModel:
        """Build a model from an ``ase.Atoms`` (per-atom arrays named as in :meth:`to_ase` are kept)."""
        arrays = atoms.arrays
        scores = {k[len("score_") :]: np.asarray(v) for k, v in arrays.items() if k.startswith("score_")}
        # ase leaves these two getters unannotated, hence the narrow ignores.
        positions = np.asarray(atoms.get_positions())  # type: ignore[no-untyped-call]
        elements: list[str] = list(atoms.get_chemical_symbols())  # type: ignore[no-untyped-call]
        return cls(
            positions=positions,
            elements=elements,
            b_factor=arrays.get("b_factor"),
            height=arrays.get("height"),
            labels=arrays.get("labels"),
            scores=scores,
            metadata=dict(atoms.info),
        )
