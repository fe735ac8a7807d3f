"""Atomic potentials: the atom path and the volume path agree, and gradients are right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aet.physics import atoms as atoms_module
from aet.physics import atoms_to_projections, atoms_to_volume, project, sigma_of_b


@pytest.fixture(params=[True, False], ids=["compiled", "torch"])
def splat_path(request, monkeypatch):
    """Run a test on the compiled CPU kernels and on the Torch path that other devices use."""
    monkeypatch.setattr(atoms_module, "CPU_KERNELS", request.param)
    return request.param


@pytest.fixture
def atoms() -> torch.Tensor:
    return torch.tensor(np.random.default_rng(0).uniform(-7, 7, (40, 3)))


@pytest.mark.parametrize(
    "angles",
    [np.linspace(-70, 70, 15), np.random.default_rng(1).uniform(-60, 60, (4, 3))],
    ids=["single-axis", "general-euler"],
)
def test_atom_path_matches_volume_path(atoms, angles):
    """At the sampling of Lee et al. 2021 (0.357 Å voxels, B = 5 Å²) the two paths agree (corr ≥ 0.999).

    The residual difference is the voxel projector's interpolation blur (linear: variance 1/6 px² along the
    one interpolated axis of the single-axis path), which grows when σ = √(B/2)/π falls below ~1.4 pixels.
    """
    vs = 0.357
    vol = atoms_to_volume(atoms, 5.0, 1.0, (64, 64, 64), vs)
    via_volume = project(vol, angles).numpy()
    direct = atoms_to_projections(atoms, 5.0, 1.0, angles, (64, 64), vs).numpy()
    corr = [np.corrcoef(via_volume[i].ravel(), direct[i].ravel())[0, 1] for i in range(len(direct))]
    assert min(corr) >= 0.999, corr
    assert via_volume.sum() == pytest.approx(direct.sum(), rel=1e-3)


def test_volume_peak_and_width():
    """One atom at the origin: the centre voxel holds H and the profile has σ = √(B/2)/π."""
    b, h, vs = 6.0, 2.5, 0.2
    vol = atoms_to_volume(torch.zeros(1, 3, dtype=torch.float64), b, h, (41, 41, 41), vs).numpy()
    assert vol[20, 20, 20] == pytest.approx(h)
    profile = vol[20, 20, :]
    x = (np.arange(41) - 20) * vs
    var = (profile * x**2).sum() / profile.sum()
    assert math.sqrt(var) == pytest.approx(sigma_of_b(b), rel=1e-3)


def test_projection_integral_and_position():
    """The projection integrates to H·(B/π)^{3/2}/voxel³ and an atom at +x lands right of centre."""
    b, h, ps = 5.0, 1.0, 0.3
    pos = torch.tensor([[1.5, 0.0, 0.0]], dtype=torch.float64)
    img = atoms_to_projections(pos, b, h, [0.0], (48, 48), ps).numpy()[0]
    assert img.sum() == pytest.approx(h * (b / math.pi) ** 1.5 / ps**3, rel=1e-4)
    r, c = np.unravel_index(img.argmax(), img.shape)
    assert (r, c) == (24, 24 + 5)


def test_gradcheck_positions_b_height(splat_path):
    pos = torch.tensor([[0.31, -0.52, 0.2], [-0.9, 0.43, -0.35]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([4.0, 5.5], dtype=torch.float64, requires_grad=True)
    h = torch.tensor([1.0, 0.7], dtype=torch.float64, requires_grad=True)

    def proj(p, bb, hh):
        return atoms_to_projections(p, bb, hh, [[10.0, -35.0, 5.0], [0.0, 20.0, 0.0]], (12, 12), 0.4)

    def vol(p, bb, hh):
        return atoms_to_volume(p, bb, hh, (10, 10, 10), 0.4)

    assert torch.autograd.gradcheck(proj, (pos, b, h))
    assert torch.autograd.gradcheck(vol, (pos, b, h))


def test_gradcheck_edges_chunks_rotations_and_shifts(splat_path):
    """The hand-written backward: atoms half out of the image, several atom chunks, rotations and shifts."""
    gen = torch.Generator().manual_seed(3)
    pos = (torch.rand(9, 3, generator=gen, dtype=torch.float64) * 10 - 5).requires_grad_()
    pos.data[0] = torch.tensor([4.3, 0.2, 0.1])  # its window crosses the right edge of every image
    b = (torch.rand(9, generator=gen, dtype=torch.float64) * 3 + 3).requires_grad_()
    h = (torch.rand(9, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    rot = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    shifts = torch.tensor([[0.3, -0.2], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    angles = [[0.0, -40.0, 0.0], [10.0, 20.0, 5.0], [0.0, 60.0, 0.0]]

    def proj(p, bb, hh, w, sh):
        from aet.refinement.forward import rotation_from_vector

        rotations = rotation_from_vector(w + 1e-3)
        return atoms_to_projections(p, bb, hh, angles, (24, 20), 0.6, shifts=sh, chunk=4, rotations=rotations)

    assert torch.autograd.gradcheck(proj, (pos, b, h, rot, shifts))


def test_atoms_outside_the_image_leave_it_untouched(splat_path):
    """An atom far outside the field adds nothing; one just outside adds only its tail at the edge."""
    far = atoms_to_projections(torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64), 5.0, 1.0, [0.0], (20, 20), 0.5)
    assert float(far.abs().max()) == 0.0
    near = atoms_to_projections(torch.tensor([[5.6, 0.0, 0.0]], dtype=torch.float64), 5.0, 1.0, [0.0], (20, 20), 0.5)
    col = near[0].sum(0)
    assert float(col[-1]) > 0 and torch.all(col[1:] >= col[:-1])  # rising towards the atom beyond the right edge


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_and_torch_paths_agree(monkeypatch, dtype):
    """The CPU kernels give the Torch path's images and gradients, in both precisions, for narrow and wide atoms
    (B from 0.05 to 12 Å²) and for atoms half out of the field."""
    gen = torch.Generator().manual_seed(5)
    pos = ((torch.rand(200, 3, generator=gen, dtype=torch.float64) - 0.5) * 16).to(dtype)
    b = torch.cat([torch.tensor([0.05, 0.3]), torch.rand(198, generator=gen) * 8 + 4]).to(dtype)
    h = (torch.rand(200, generator=gen) + 0.5).to(dtype)
    angles = [[10.0, -35.0, 5.0], [0.0, 20.0, 0.0], [0.0, 70.0, 0.0]]
    weights = torch.rand(3, 30, 26, generator=gen).to(dtype)
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(atoms_module, "CPU_KERNELS", compiled)
        leaves = [t.clone().requires_grad_() for t in (pos, b, h)]
        out = atoms_to_projections(*leaves, angles, (30, 26), 0.4, chunk=64)
        (out * weights).sum().backward()
        results.append([out.detach(), *(t.grad for t in leaves)])
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    for compiled, reference in zip(*results, strict=True):
        assert torch.isfinite(compiled).all()
        assert float((compiled - reference).abs().max()) <= tol * float(reference.abs().max())
