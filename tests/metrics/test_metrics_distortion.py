"""global_distortion: a known rotation and stretch of a lattice are recovered; the per-atom noise is what is left."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError
from aet.metrics import compare, global_distortion


def _lattice() -> np.ndarray:
    g = np.arange(-6, 7) * 2.8  # Å
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)


def test_recovers_rotation_stretch_and_noise() -> None:
    truth = _lattice()
    rng = np.random.default_rng(0)
    stretch = np.diag([1.0, 1.0, 1.012])  # 1.2 % longer along z
    rot = Rotation.from_rotvec(np.radians(0.5) * np.array([0.0, 1.0, 0.0]))
    noise = rng.normal(0.0, 0.05, truth.shape)  # 5 pm per axis → 8.7 pm RMS
    model = (rot.as_matrix() @ stretch @ truth.T).T + noise + [0.3, -0.2, 0.1]
    r = compare(model, truth, radius=0.9)
    d = global_distortion(r, truth)
    assert d.n_pairs == len(truth)
    assert d.rotation_deg == pytest.approx(0.5, abs=0.01)
    assert abs(d.rotation_axis[1]) == pytest.approx(1.0, abs=1e-3)
    assert d.strain_xyz == pytest.approx((0.0, 0.0, 0.012), abs=3e-4)
    assert d.principal_strain[-1] == pytest.approx(0.012, abs=3e-4)
    assert d.residual_rmsd_pm == pytest.approx(100 * 0.05 * np.sqrt(3), rel=0.05)
    assert d.rmsd_pm > 2 * d.residual_rmsd_pm  # the map dominates the error of the shifted model


def test_undistorted_model_has_no_map() -> None:
    truth = _lattice()
    model = truth + np.random.default_rng(1).normal(0.0, 0.05, truth.shape)
    d = global_distortion(compare(model, truth, radius=0.9), truth)
    assert d.rotation_deg < 0.02 and max(map(abs, d.strain_xyz)) < 3e-4
    assert d.residual_rmsd_pm == pytest.approx(d.rmsd_pm, rel=0.02)


def test_too_few_or_flat_pairs_are_refused() -> None:
    flat = _lattice()
    flat = flat[flat[:, 2] == 0]  # one plane of atoms
    with pytest.raises(AetInputError, match="one plane"):
        global_distortion(compare(flat, flat, radius=0.9), flat)
    few = _lattice()[:3]
    with pytest.raises(AetInputError, match="at least 4"):
        global_distortion(compare(few, few, radius=0.9), few)
