"""Every public stage gives the same result whatever the memory layout and float dtype of its input arrays (issue 24).

The data model stores C-contiguous arrays of its declared dtypes, so a Fortran-ordered array (what ``xyz[:, [1, 0, 2]]``
returns), a strided view or a float32 array reaches no stage in that form. Each stage runs once on C-ordered float64
inputs (the reference) and once per layout; float64 layouts must agree to round-off, float32 ones to float32 precision.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import torch

import aet
from aet.model import AtomicModel, TiltSeries, Volume
from aet.physics import atoms_to_volume
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model

LAYOUTS = [
    "C",
    "fortran",
    "strided",
    "transposed-copy",
    "fancy-index",
    "negative-strides",
    "float32",
    "float32-fortran",
]
#: What each layout is compared with: the C-ordered float64 run, except float32 in Fortran order (float32 in C order).
REFERENCE = {"float32-fortran": "float32"}


def arrange(a: Any, how: str) -> np.ndarray:
    """The values of ``a`` (as float64) in memory laid out as ``how`` says."""
    a = np.asarray(a, dtype=np.float64)
    if how == "C":
        out = np.ascontiguousarray(a)
    elif how == "fortran":
        out = np.asfortranarray(a)
    elif how == "strided":  # every other element of a bigger array along every axis: a view, contiguous nowhere
        big = np.full(tuple(2 * s for s in a.shape), np.nan)
        out = big[tuple(slice(None, None, 2) for _ in a.shape)]
        out[...] = a
    elif how == "transposed-copy":  # a transposed C copy, transposed back: reversed strides
        out = np.ascontiguousarray(a.T).T
    elif how == "fancy-index":  # what xyz[:, [1, 0, 2]] gives: the array behind the issue
        order = np.arange(a.shape[-1])[::-1]
        out = a[..., order][..., order]
    elif how == "negative-strides":
        out = np.ascontiguousarray(a[::-1])[::-1]
    elif how == "float32":
        out = a.astype(np.float32)
    elif how == "float32-fortran":
        out = np.asfortranarray(a.astype(np.float32))
    else:
        raise ValueError(how)
    assert np.array_equal(out, a.astype(out.dtype)), how
    if how not in ("C", "float32") and a.ndim > 1 and min(a.shape) > 1:
        assert not out.flags.c_contiguous, how  # 1-D arrays have only one layout (strided views aside)
    return out


#: Agreement to round-off (same dtype in, same operations), and to float32 precision (float32 against float64 in).
EXACT, FLOAT32 = 1e-9, 1e-5


def allclose(result: Any, reference: Any, how: str, rtol: float) -> None:
    """Same values to ``rtol``, relative to each value or to the largest value of the reference."""
    result, reference = np.asarray(result, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert result.shape == reference.shape, how
    scale = float(np.max(np.abs(reference))) if reference.size else 1.0
    np.testing.assert_allclose(result, reference, rtol=rtol, atol=rtol * scale, err_msg=how)


# ---------------------------------------------------------------- tiny cases (built once, in C order)
TRUTH = build_model("cuboctahedron", ["Pt"], 0.8)  # 55 atoms within 4 Å of the centre
START = AtomicModel(TRUTH.positions + np.random.default_rng(0).normal(0, 0.1, TRUTH.positions.shape), TRUTH.elements)
EULER = np.stack([np.zeros(9), tilt_range(-60, 60, 15), np.zeros(9)], axis=1)
ACQ = Acquisition(dose=None, pixel_size=0.5, image_size=28)


@functools.cache
def measured() -> TiltSeries:
    """9 noise-free images of 28² pixels of 0.5 Å."""
    return simulate_tilt_series(TRUTH, EULER, ACQ)


@functools.cache
def small() -> TiltSeries:
    """9 images of 16² pixels: a 16³ reconstruction."""
    return simulate_tilt_series(TRUTH, EULER, Acquisition(dose=None, pixel_size=0.8, image_size=16))


@functools.cache
def tomogram() -> Volume:
    """The atoms as B = 5 Å² Gaussians on a 32³ grid of 0.357 Å voxels centred on the particle."""
    n, vs = 32, 0.357
    heights = torch.ones(len(TRUTH), dtype=torch.float64)
    data = atoms_to_volume(torch.from_numpy(TRUTH.positions), 5.0, heights, (n, n, n), vs).numpy()
    return Volume(data, voxel_size=vs, origin=(-(n // 2) * vs,) * 3)


def tilt_series_in(ts: TiltSeries, how: str) -> TiltSeries:
    return TiltSeries(arrange(ts.images, how), arrange(ts.angles, how), ts.pixel_size, ts.euler_convention)


def model_in(model: AtomicModel, how: str) -> AtomicModel:
    return AtomicModel(arrange(model.positions, how), model.elements)


def volume_in(volume: Volume, how: str) -> Volume:
    return Volume(arrange(volume.data, how), volume.voxel_size, volume.origin)


# ---------------------------------------------------------------- each stage, once per layout (cached)
@functools.cache
def run(stage: str, how: str) -> list[np.ndarray]:
    if stage == "wbp":
        return [aet.reconstruct(tilt_series_in(small(), how), "wbp", device="cpu", progress=False).data]
    if stage == "resire":
        vol = aet.reconstruct(tilt_series_in(small(), how), "resire", iterations=5, device="cpu", progress=False)
        return [vol.data]
    if stage == "augment":
        out = aet.augment(volume_in(tomogram(), how), device="cpu", progress=False)
        assert isinstance(out, Volume)
        return [out.data]
    if stage == "trace":
        traced = aet.trace(volume_in(tomogram(), how), elements=["Pt"])
        return [traced.positions, np.asarray(traced.b_factor)]
    if stage == "refine":
        refined = aet.refine(
            model_in(START, how), tilt_series_in(measured(), how), iterations=2, hb_iterations=2, device="cpu",
            progress=False,
        )[0]  # fmt: skip
        return [refined.positions, np.asarray(refined.b_factor), np.asarray(refined.height)]
    if stage == "rfactor":
        r = aet.rfactor(model_in(START, how), tilt_series_in(measured(), how))
        return [np.array([r.R1, r.R1_mean, r.R2]), np.asarray(r.R1_per_projection)]
    if stage == "compare":
        objects = aet.metrics.compare(model_in(START, how), model_in(TRUTH, how), 0.9)
        arrays = aet.metrics.compare(arrange(START.positions, how), arrange(TRUTH.positions, how), 0.9)
        return [np.array([c.rmsd_pm, c.recall, c.precision, *c.shift]) for c in (objects, arrays)]
    if stage == "simulate":
        return [simulate_tilt_series(model_in(TRUTH, how), arrange(EULER, how), ACQ).images]
    raise ValueError(stage)


STAGES = ["wbp", "resire", "augment", "trace", "refine", "rfactor", "compare", "simulate"]


@pytest.mark.parametrize("how", LAYOUTS)
def test_the_data_model_stores_c_contiguous_arrays_of_its_dtypes(how):
    n = len(EULER)
    ts = TiltSeries(
        arrange(np.ones((n, 4, 5)), how), arrange(EULER, how), shifts=arrange(np.zeros((n, 2)), how),
        dose=arrange(np.ones(2 * n), how)[::2],
    )  # fmt: skip
    model = AtomicModel(
        arrange(TRUTH.positions, how), TRUTH.elements, b_factor=arrange(np.full(len(TRUTH), 5.0), how),
        height=arrange(np.ones(len(TRUTH)), how), labels=arrange(np.zeros(len(TRUTH)), how),
        scores={"fit": arrange(np.ones(len(TRUTH)), how)},
    )  # fmt: skip
    volume = volume_in(tomogram(), how)
    arrays = {
        "images": (ts.images, np.float32), "angles": (ts.angles, np.float64), "shifts": (ts.shifts, np.float64),
        "dose": (ts.dose, np.float64), "data": (volume.data, np.float32), "positions": (model.positions, np.float64),
        "b_factor": (model.b_factor, np.float64), "height": (model.height, np.float64),
        "labels": (model.labels, np.int64), "score": (model.scores["fit"], np.float64),
    }  # fmt: skip
    for name, (arr, dtype) in arrays.items():
        assert isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.flags.c_contiguous, (name, how)
    # the positions of a 3×N array are transposed to N×3 and still stored in C order
    assert AtomicModel(arrange(TRUTH.positions.T, how), TRUTH.elements).positions.flags.c_contiguous


@pytest.mark.parametrize("how", LAYOUTS)
def test_write_and_read_back(tmp_path, how):
    rtol = FLOAT32 if how.startswith("float32") else EXACT
    ts, volume, model = tilt_series_in(measured(), how), volume_in(tomogram(), how), model_in(TRUTH, how)
    for suffix in (".h5", ".npz", ".mat", ".mrc"):
        back = aet.io.read_tilt_series(aet.io.write(ts, tmp_path / f"ts{suffix}"))
        allclose(back.images, measured().images, how, rtol)
        allclose(back.angles, EULER, how, rtol)
        allclose(aet.io.read_volume(aet.io.write(volume, tmp_path / f"vol{suffix}")).data, tomogram().data, how, rtol)
    for suffix in (".h5", ".xyz", ".csv"):
        back_model = aet.io.read_model(aet.io.write(model, tmp_path / f"model{suffix}"))
        allclose(back_model.positions, TRUTH.positions, how, rtol)
    allclose(aet.io.read_angles(aet.io.write(arrange(EULER, how), tmp_path / "angles.txt")), EULER, how, rtol)


@pytest.mark.parametrize("how", LAYOUTS[1:])
@pytest.mark.parametrize("stage", STAGES)
def test_stage_gives_the_same_result_in_every_layout(stage, how):
    reference, result = run(stage, REFERENCE.get(how, "C")), run(stage, how)
    assert len(result) == len(reference)
    rtol = EXACT
    if how == "float32":  # against float64: L-BFGS turns the float32 rounding of the positions into ~5e-5
        rtol = 5e-4 if stage == "refine" else FLOAT32
    for got, want in zip(result, reference, strict=True):
        allclose(got, want, how, rtol)
