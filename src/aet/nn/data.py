"""Training data for tomogram augmentation: seeded, on the fly, cached on disk.

Sample ``i`` of a :class:`DataConfig` with seed ``s`` is always the same: a random particle (shape, chemistry,
size, orientation, B-factors, defects) → an ADF-STEM tilt series with a random missing wedge, projection count,
dose, angle errors and drift (:func:`aet.simulate.simulate_tilt_series`) → **the reconstruction that inference
sees**: :func:`aet.reconstruct` with the settings in ``DataConfig.reconstruction`` (RESIRE, 50 iterations, no
support, positivity; the same call, not an approximation). The target is the atomicity volume: a Gaussian of
height 1 and B = ``target_b`` Å² (AET convention, H·exp(−π²r²/B)) at every true atom, on the same grid.

The input is normalised by :func:`aet.nn.normalise.intensity_scale` of the *whole* tomogram before cropping,
exactly as :func:`aet.augment` does. Each sample stores ``crops`` random cubes of ``box`` voxels (centred on
atoms, so that the network sees surfaces and interiors) in a float16 ``.npz`` (loaded with
``allow_pickle=False``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError
from aet.geometry import Grid, centre_index
from aet.io.atomic import atomic_paths
from aet.model import AtomicModel, TiltSeries, Volume
from aet.nn.normalise import intensity_scale
from aet.physics.atoms import atoms_to_volume

#: Shapes and chemistries the generator draws from. Icosahedra are left out on purpose: the benchmark tests
#: on them to measure generalisation to a structure the network never saw.
CRYSTAL_SHAPES = ("cuboctahedron", "octahedron", "truncated-octahedron", "decahedron", "wulff", "random", "sphere")
FCC_ELEMENTS = ("Pt", "Au", "Pd", "Ag", "Ni", "Ir")
OTHER_CRYSTALS = ("Fe", "W", "Mo", "Co", "Ru")  # bcc and hcp metals (sphere / random shapes)
ALLOYS = (("Fe", "Pt", "l10"), ("Ni", "Pt", "random"), ("Pd", "Pt", "core-shell"), ("Au", "Pt", "core-shell"),
          ("Co", "Pt", "random"), ("Pt", "Au", "random"))  # fmt: skip


@dataclass
class DataConfig:
    """What the generator draws from (ranges are inclusive; angles in degrees, lengths in Å or nm as named)."""

    seed: int = 0
    voxel_size: float = 0.357
    box: int = 64
    crops: int = 3
    size_nm: tuple[float, float] = (1.5, 6.0)
    max_tilt: tuple[float, float] = (55.0, 80.0)
    n_projections: tuple[int, int] = (15, 60)
    dose: tuple[float, float] = (3e3, 3e5)  # e/Å² per projection, log-uniform
    b_factor: tuple[float, float] = (3.5, 7.0)  # Å², per particle; ±10 % per atom
    angle_error: tuple[float, float] = (0.0, 0.5)
    drift: tuple[float, float] = (0.0, 0.2)
    shapes: tuple[str, ...] = CRYSTAL_SHAPES
    kind_weights: tuple[float, float, float, float] = (0.5, 0.2, 0.15, 0.15)  # fcc, alloy, amorphous, bcc/hcp
    exclude: tuple[str, ...] = ("icosahedron",)
    target_b: float = 4.0
    # the microscope's physics beyond the linear image (Acquisition's fields of the same names), drawn per sample
    # from their own random stream (so that the rest of a sample stays what it was): all off by default
    contrast_exponent: tuple[float, float] = (1.7, 1.7)  # n of the Z^n law (measured ADF: about 1.4–2.0)
    column_exponent: tuple[float, float] = (1.0, 1.0)  # γ of the column non-linearity (channelling: 0.75–1)
    probe_sigma: tuple[float, float] = (0.0, 0.0)  # Å, Gaussian probe blur
    probe_tail: tuple[float, float] = (0.0, 0.0)  # fraction of the probe in a broad tail (σ 1–3 Å)
    scan_jitter: tuple[float, float] = (0.0, 0.0)  # Å, per scan line
    intensity_drift: tuple[float, float] = (0.0, 0.0)  # relative, per image
    reconstruction: dict[str, Any] = field(
        default_factory=lambda: {"method": "resire", "iterations": 50, "support": None, "positivity": True}
    )

    def __post_init__(self) -> None:
        if self.box < 16 or self.box % 8:
            raise AetInputError(f"box must be a multiple of 8 voxels, at least 16; got {self.box}.")
        bad = set(self.shapes) & set(self.exclude)
        if bad:
            raise AetInputError(f"shapes {sorted(bad)} are both used and excluded; remove them from one list.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataConfig:
        """The config from a TOML table or a model card's ``training_data`` (lists as tuples; keys that are no field,
        e.g. ``n_samples``, ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})


def draw_particle(cfg: DataConfig, rng: np.random.Generator) -> AtomicModel:
    """A random particle: shape, chemistry, size, random orientation, per-atom B (Å²), defects."""
    from aet.simulate.structures import build_model

    lo, hi = cfg.size_nm
    size = lo + (hi - lo) * rng.uniform() ** 3  # small particles are cheap and common; large ones still appear
    weights = np.asarray(cfg.kind_weights, dtype=float)
    kind = rng.choice(["fcc", "alloy", "amorphous", "other"], p=weights / weights.sum())
    seed = int(rng.integers(2**31))
    vac = float(rng.choice([0.0, rng.uniform(0, 0.05)]))
    shape = str(rng.choice(cfg.shapes))
    if kind == "fcc":
        model = build_model(shape, [str(rng.choice(FCC_ELEMENTS))], size, vacancy_fraction=vac, seed=seed)
    elif kind == "alloy":
        a, b, chem = ALLOYS[rng.integers(len(ALLOYS))]
        fcc_shape = shape if chem != "l10" else str(rng.choice(["cuboctahedron", "random", "sphere"]))
        model = build_model(fcc_shape, [a, b], size, chemistry=chem, vacancy_fraction=vac, seed=seed)
    elif kind == "amorphous":
        model = build_model("amorphous", [str(rng.choice(("Pt", "Au", "Pd")))], min(size, 4.0), seed=seed)
    else:
        model = build_model(str(rng.choice(["sphere", "random"])), [str(rng.choice(OTHER_CRYSTALS))], size, seed=seed)
    rot = Rotation.random(random_state=int(rng.integers(2**31)))
    b = rng.uniform(*cfg.b_factor) * rng.uniform(0.9, 1.1, len(model))
    return AtomicModel(rot.apply(model.positions), model.elements, b_factor=b, metadata=model.metadata)


#: Ranges of the microscope's physics for training that must survive real data (issue 17): set them in the
#: ``[data]`` table of a training config (``configs/train_unet_physics.toml``).
PHYSICS_RANGES: dict[str, tuple[float, float]] = {
    "contrast_exponent": (1.4, 2.0), "column_exponent": (0.75, 1.0), "probe_sigma": (0.0, 0.4),
    "probe_tail": (0.0, 0.15), "scan_jitter": (0.0, 0.3), "intensity_drift": (0.0, 0.05),
}  # fmt: skip


def draw_physics(cfg: DataConfig, index: int) -> dict[str, float]:
    """The microscope's physics of sample ``index`` (Acquisition fields), uniform within the config's ranges, from a
    random stream of its own; the probe's tail gets a width of 1–3 Å."""
    rng = np.random.default_rng([cfg.seed, index, 2])
    drawn = {name: float(rng.uniform(*getattr(cfg, name))) for name in PHYSICS_RANGES}
    drawn["probe_tail_sigma"] = float(rng.uniform(1.0, 3.0))
    return drawn


def draw_angles(cfg: DataConfig, rng: np.random.Generator) -> np.ndarray:
    """Equally spaced single-axis tilts (degrees) over ±max_tilt."""
    top = rng.uniform(*cfg.max_tilt)
    return np.linspace(-top, top, int(rng.integers(cfg.n_projections[0], cfg.n_projections[1] + 1)))


def reconstruct_for_network(tilt_series: Any, settings: dict[str, Any], progress: bool = False) -> Volume:
    """The reconstruction a network is trained on and applied to (``settings`` from its model card)."""
    from aet.reconstruction import reconstruct

    opts = dict(settings)
    return reconstruct(tilt_series, opts.pop("method"), progress=progress, **opts)


def reconstruct_rows(tilt_series: TiltSeries, settings: dict[str, Any], start: int, stop: int) -> tuple[Volume, slice]:
    """Rows ``start:stop`` (clipped) of the reconstruction of a single-axis tilt series, for a fraction of the cost.

    With nominal angles that are pure tilts about y, every row of the images reconstructs the same row of the
    volume independently (projection, back-projection, step and positivity act row by row), so the band is
    exactly that band of the full reconstruction (tested in ``tests/nn/test_nn_data.py``), with its origin set to
    where the band sits in the full volume.
    """
    if not tilt_series.is_single_axis() or settings.get("support") is not None:
        raise AetInputError("row bands need a single-axis tilt series and no support mask.")
    n_rows, n_cols = tilt_series.images.shape[1:]
    rows = slice(max(0, start), min(n_rows, stop))
    band = TiltSeries(
        tilt_series.images[:, rows], tilt_series.angles, tilt_series.pixel_size, tilt_series.euler_convention
    )
    vol = reconstruct_for_network(band, {**settings, "thickness": n_cols})
    # the band's rotation centre is the full volume's: row n_rows//2 of the images, i.e. row n_rows//2 − start here
    ctr = (centre_index(n_cols), centre_index(n_rows) - rows.start, centre_index(n_cols))
    grid = Grid.centred(vol.shape, tilt_series.pixel_size, centre=ctr)
    return Volume(vol.data, grid.voxel_size, grid.origin, vol.metadata), rows


def target_volume(model: AtomicModel, volume: Volume, target_b: float) -> np.ndarray:
    """Atomicity target on the grid of ``volume``: height-1 Gaussians of B = ``target_b`` Å² at each atom."""
    grid = volume.grid
    pos = model.positions - grid.to_position(grid.centre)  # atoms_to_volume centres its grid on voxel n//2
    half = (np.asarray(grid.centre)[::-1] + 2) * grid.voxel_size + 2.0  # Å: grid plus the Gaussian tail
    pos = torch.from_numpy(pos[(np.abs(pos) <= half).all(axis=1)])  # only atoms that reach the grid
    return atoms_to_volume(pos, target_b, 1.0, volume.shape, volume.voxel_size).numpy().astype(np.float32)


def make_sample(cfg: DataConfig, index: int) -> dict[str, Any]:
    """Sample ``index``: ``input`` and ``target`` crops ``[crops, box, box, box]`` (float32) and its description."""
    from aet.simulate.acquisition import Acquisition, simulate_tilt_series

    rng = np.random.default_rng([cfg.seed, index])
    model = draw_particle(cfg, rng)
    angles = draw_angles(cfg, rng)
    dose = float(math.exp(rng.uniform(math.log(cfg.dose[0]), math.log(cfg.dose[1]))))
    physics = draw_physics(cfg, index)
    acq = Acquisition(
        pixel_size=cfg.voxel_size, dose=dose, angle_error=float(rng.uniform(*cfg.angle_error)),
        drift=float(rng.uniform(*cfg.drift)), seed=int(rng.integers(2**31)), **physics,
    )  # fmt: skip
    ts = simulate_tilt_series(model, angles, acq)
    # crop centres (voxel z, y, x) on random atoms; all crops of a sample share one band of rows (y)
    _, n_rows, n_cols = ts.images.shape
    grid = Grid.centred((n_cols, n_rows, n_cols), cfg.voxel_size)  # the full reconstruction's grid
    vox = np.round(grid.to_index(model.positions)).astype(int)
    jitter = rng.integers(-cfg.box // 4, cfg.box // 4 + 1, (cfg.crops, 3))
    yc = int(vox[rng.integers(len(vox)), 1] + jitter[0, 1])
    near = vox[np.abs(vox[:, 1] - yc) <= cfg.box // 4]
    centres = near[rng.integers(len(near), size=cfg.crops)] + jitter
    centres[:, 1] = yc
    volume, rows = reconstruct_rows(ts, cfg.reconstruction, yc - cfg.box // 2, yc + cfg.box // 2)
    centres[:, 1] -= rows.start
    target = target_volume(model, volume, cfg.target_b)
    data = volume.data / intensity_scale(volume.data)
    inputs = np.stack([crop(data, c, cfg.box) for c in centres])
    targets = np.stack([crop(target, c, cfg.box) for c in centres])
    info = {
        "index": index, "atoms": len(model), "elements": sorted(set(model.elements)),
        "structure": model.metadata.get("structure"), "chemistry": model.metadata.get("chemistry"),
        "size_nm": model.metadata.get("size_nm"), "max_tilt": float(angles.max()), "projections": len(angles),
        "dose": dose, "shape": list(volume.shape), "physics": physics,
    }  # fmt: skip
    return {"input": inputs, "target": targets, "info": info}


def make_validation_particle(cfg: DataConfig, settings: dict[str, Any], index: int) -> tuple[AtomicModel, Volume]:
    """A validation particle (2–3.5 nm, drawn like the training ones) and its full reconstruction at the fixed
    acquisition of ``settings`` (``max_tilt`` °, ``projections``, ``dose`` e/Å² per projection, ``angle_error`` °)."""
    from aet.simulate.acquisition import Acquisition, simulate_tilt_series

    rng = np.random.default_rng([int(settings["seed"]), index])
    model = draw_particle(replace(cfg, size_nm=(2.0, 3.5)), rng)
    angles = np.linspace(-settings["max_tilt"], settings["max_tilt"], int(settings["projections"]))
    acq = Acquisition(
        pixel_size=cfg.voxel_size, dose=float(settings["dose"]), angle_error=float(settings["angle_error"]),
        seed=int(rng.integers(2**31)),
    )  # fmt: skip
    return model, reconstruct_for_network(simulate_tilt_series(model, angles, acq), cfg.reconstruction)


def crop(data: np.ndarray, centre: np.ndarray, box: int) -> np.ndarray:
    """The ``box``³ cube of ``data`` centred on voxel ``centre`` (zero outside the volume)."""
    out = np.zeros((box, box, box), dtype=np.float32)
    start = np.asarray(centre) - box // 2
    src = [slice(max(0, s), min(n, s + box)) for s, n in zip(start, data.shape, strict=True)]
    dst = [slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start, strict=True)]
    if all(sl.stop > sl.start for sl in src):
        out[tuple(dst)] = data[tuple(src)]
    return out


class CachedSamples(torch.utils.data.Dataset):
    """Samples ``0 .. n-1`` of a :class:`DataConfig`, generated on first use and cached in ``cache_dir``.

    Items are single crops: item ``k`` is crop ``k % crops`` of sample ``k // crops``, as float32 tensors
    ``[1, box, box, box]`` (input, target), with a random flip of each axis (the missing wedge of a single-axis
    tilt series is symmetric under each flip) when ``flips`` is set.
    """

    def __init__(self, cfg: DataConfig, n: int, cache_dir: str | Path, flips: bool = True) -> None:
        self.cfg, self.n, self.flips = cfg, int(n), flips
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return self.n * self.cfg.crops

    def path(self, index: int) -> Path:
        return self.dir / f"sample_{self.cfg.seed}_{index:06d}.npz"

    def ready(self) -> np.ndarray:
        """Indices of the samples already in the cache."""
        found = [int(p.stem.rsplit("_", 1)[1]) for p in self.dir.glob(f"sample_{self.cfg.seed}_*.npz")]
        return np.array(sorted(i for i in found if i < self.n), dtype=np.int64)

    def load(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` from the cache, generating and caching it (atomically) if missing."""
        path = self.path(index)
        if not path.exists():
            s = make_sample(self.cfg, index)
            with atomic_paths(path) as (tmp,):
                np.savez(tmp, input=s["input"].astype(np.float16), target=s["target"].astype(np.float16))
        with np.load(path, allow_pickle=False) as f:
            return {"input": f["input"], "target": f["target"]}

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.load(k // self.cfg.crops)
        x, y = (sample[key][k % self.cfg.crops].astype(np.float32) for key in ("input", "target"))
        if self.flips:
            rng = np.random.default_rng()
            axes = tuple(int(a) for a in np.flatnonzero(rng.integers(0, 2, 3)))
            if axes:
                x, y = np.flip(x, axes), np.flip(y, axes)
        return torch.from_numpy(x.copy())[None], torch.from_numpy(y.copy())[None]
