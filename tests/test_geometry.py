"""aet.geometry: the voxel grid (index ↔ Å, rotation centre at n//2) and the one single-axis test, which the tilt
series, the projector's fast path and the reconstruction's memory budget all share."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import aet
import aet.geometry
from aet.errors import AetInputError
from aet.geometry import Grid, centre_index, is_single_axis, single_axis_tilts
from aet.model import EULER_CONVENTIONS, TiltSeries, as_euler_angles
from aet.physics import Projector
from aet.physics.projector import projector_path, uses_fast_path
from aet.reconstruction.setup import make_job, operator_bytes, volume_shape

THETA = np.linspace(-60, 60, 7)


def euler(phi: float, psi: float, theta: np.ndarray = THETA) -> np.ndarray:
    return np.stack([np.full_like(theta, phi), theta, np.full_like(theta, psi)], 1)


def test_geometry_is_numpy_only() -> None:
    tree = ast.parse(Path(aet.geometry.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "typing", "numpy", "numpy.typing", "aet.errors"}


def test_model_reexports_euler_helpers() -> None:
    assert as_euler_angles is aet.geometry.as_euler_angles
    assert EULER_CONVENTIONS == aet.geometry.EULER_CONVENTIONS == ("zyz", "zyx")


def test_grid_index_position_round_trip() -> None:
    grid = Grid((5, 8, 11), 0.37, (-1.5, 2.25, 10.0))
    idx = np.random.default_rng(0).uniform(-2, 12, (50, 3))  # fractional (z, y, x), outside the array too
    pos = grid.to_position(idx)
    np.testing.assert_allclose(grid.to_index(pos), idx, rtol=0, atol=1e-12)
    # (z, y, x) voxels -> (x, y, z) Å: voxel (1, 2, 3) sits at origin + (1, 2, 3) voxels, axes reversed
    np.testing.assert_allclose(grid.to_position([1, 2, 3]), [10.0 + 3 * 0.37, 2.25 + 2 * 0.37, -1.5 + 0.37])
    np.testing.assert_allclose(grid.to_index([10.0, 2.25, -1.5]), [0, 0, 0], atol=1e-15)


@pytest.mark.parametrize("shape", [(5, 7, 9), (4, 6, 8), (1, 2, 3)])
def test_centred_grid_puts_index_n_over_2_at_zero(shape) -> None:
    grid = Grid.centred(shape, 0.4)
    assert grid.centre == tuple(n // 2 for n in shape) == tuple(centre_index(n) for n in shape)
    np.testing.assert_array_equal(grid.to_position(grid.centre), [0.0, 0.0, 0.0])
    # the first voxel sits n//2 voxels below 0 Å, the last (n-1-n//2) above: even n reach one voxel further down
    np.testing.assert_allclose(grid.to_position([0, 0, 0])[::-1], [-(n // 2) * 0.4 for n in shape])
    np.testing.assert_allclose(grid.to_position(np.subtract(shape, 1))[::-1], [(n - 1 - n // 2) * 0.4 for n in shape])


def test_centred_grid_origin_arithmetic_is_unchanged() -> None:
    # the refactor keeps the old expression bit for bit
    assert Grid.centred((7, 6, 33), 0.35).origin == tuple(-(n // 2) * 0.35 for n in (7, 6, 33))
    # a window of rows start:stop of a centred grid keeps the rotation centre of the whole
    band = Grid.centred((33, 20, 33), 0.35, centre=(16, centre_index(64) - 10, 16))
    assert band.origin[1] == (10 - 64 // 2) * 0.35


def test_grid_checks_and_is_frozen() -> None:
    with pytest.raises(AetInputError, match="voxel_size"):
        Grid((2, 2, 2), 0.0)
    with pytest.raises(AetInputError, match="shape"):
        Grid((2, 2), 1.0)  # type: ignore[arg-type]
    grid = Grid((2, 3, 4), 1)
    assert isinstance(grid.voxel_size, float)
    with pytest.raises(AttributeError):
        grid.voxel_size = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("thickness", [None, 9])
def test_reconstructed_volume_carries_the_centred_grid(thickness) -> None:
    images = np.random.default_rng(1).random((5, 12, 14), dtype=np.float32)
    ts = TiltSeries(images, np.linspace(-50, 50, 5), pixel_size=0.37)
    vol = aet.reconstruct(ts, "wbp", thickness=thickness, progress=False)
    assert vol.shape == (14 if thickness is None else thickness, 12, 14)
    assert vol.grid == Grid.centred(vol.shape, 0.37)
    np.testing.assert_array_equal(vol.grid.to_position(vol.grid.centre), 0.0)


# (angles, convention, row shifts?, expected: single axis, fast path)
CASES = {
    "plain tilt zyz": (euler(0, 0), "zyz", False, True, True),
    "plain tilt zyx": (euler(0, 0), "zyx", False, True, True),
    "(180, θ, 180) zyz": (euler(180, 180), "zyz", False, True, True),
    "φ = 0.3°": (euler(0.3, 0), "zyz", False, False, False),
    "row shifts": (euler(0, 0), "zyz", True, True, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_single_axis_and_fast_path_agree_with_the_budget(case) -> None:
    angles, convention, row_shifts, single, fast = CASES[case]
    n = len(angles)
    shifts = np.column_stack([np.linspace(-1, 1, n), np.zeros(n)]) if row_shifts else None
    ts = TiltSeries(np.ones((n, 10, 12), np.float32), angles, 0.5, convention, shifts=shifts)
    assert ts.is_single_axis() is single
    assert is_single_axis(angles, convention) is single
    shape = volume_shape(ts, None)
    proj = Projector(shape, ts.angles, convention, image_shape=ts.images.shape[1:], shifts=shifts)
    assert proj.single_axis is fast
    assert uses_fast_path(shape, ts.angles, convention, ts.images.shape[1:], shifts) is fast
    assert projector_path(shape, ts.angles, convention, ts.images.shape[1:], shifts) == proj.path
    assert proj.path == ("single" if fast else "banded")  # these rotations are all close to a tilt about y
    # the memory budget plans for the path the projector takes: it admits the job with exactly that much memory
    needed = operator_bytes(shape, n, proj.path, 4, proj.rt)
    assert operator_bytes(shape, n, "single") <= needed < operator_bytes(shape, n, "general")
    make_job(ts, "sirt", device="cpu", progress=False, memory_limit=needed * 1.001)
    with pytest.raises(AetInputError, match="memory"):
        make_job(ts, "sirt", device="cpu", progress=False, memory_limit=needed * 0.999)


def test_single_axis_tolerance_is_an_angle() -> None:
    assert TiltSeries(np.ones((7, 4, 4), np.float32), euler(1e-6, -1e-6)).is_single_axis()
    ts = TiltSeries(np.ones((7, 4, 4), np.float32), euler(0.3, 0))
    assert not ts.is_single_axis()
    assert not ts.is_single_axis(tol_deg=0.2)
    assert ts.is_single_axis(tol_deg=0.4)


def test_tilts_from_the_matrices() -> None:
    np.testing.assert_allclose(single_axis_tilts(euler(180, 180), "zyz"), -THETA, atol=1e-12)
    np.testing.assert_allclose(single_axis_tilts(euler(0, 0), "zyx"), THETA, atol=1e-12)
    # tilts of ±0.3 (radians by mistake) written half as (180, θ, 180): the θ column spans only 0.3, the tilts 0.6
    angles = np.concatenate([euler(180, 180, np.linspace(0.3, 0.05, 6)), euler(0, 0, np.linspace(0, 0.3, 7))])
    ts = TiltSeries(np.ones((13, 8, 8), np.float32), angles)
    assert ts.is_single_axis()
    with pytest.raises(AetInputError, match="radians"):
        aet.reconstruct(ts, "wbp", progress=False)


def test_flipped_euler_fast_path_equals_general_path() -> None:
    vol = torch.rand(10, 7, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    angles = euler(180, 180)
    fast = Projector(vol.shape, angles, "zyz", dtype=torch.float64)
    slow = Projector(vol.shape, angles, "zyz", dtype=torch.float64, general_kernel="linear", path="general")
    assert fast.single_axis
    torch.testing.assert_close(fast.forward(vol), slow.forward(vol))
    img = torch.rand(len(angles), 7, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(fast.adjoint(img), slow.adjoint(img))
    # and (180, θ, 180) is the tilt −θ
    torch.testing.assert_close(fast.forward(vol), Projector(vol.shape, -THETA, dtype=torch.float64).forward(vol))
