"""The four reconstruction methods on published data: accuracy, atoms, and the missing-wedge elongation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import peak_local_max

import aet
from aet.metrics import compare
from aet.model import AtomicModel, TiltSeries, Volume
from aet.reconstruction import METHODS, reconstruct

FAST = {
    "wbp": {},
    "sirt": {"iterations": 50},
    "resire": {"iterations": 50},
    "genfire": {"iterations": 50, "oversampling": 2},
}


@pytest.fixture(scope="module")
def resire_sample(shared_data):
    d = shared_data / "resire_sample"
    ts = aet.io.read(
        d / "sample_projections_amorphous.mat", angles=d / "sample_angles_amorphous.mat", euler_convention="zyx"
    )
    truth = aet.io.read(d / "ground_truth_amorphous_vol.mat", kind="volume").data
    return ts, truth


def rel_error(vol: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(vol - truth) / np.linalg.norm(truth))


def test_accuracy_on_resire_sample(resire_sample):
    """100 iterations each, as in benchmarks/reconstruction.py (where ASTRA's SIRT scores 0.244)."""
    ts, truth = resire_sample
    err = {}
    for method in METHODS:
        opts = {} if method == "wbp" else {"iterations": 100}
        vol = reconstruct(ts, method, progress=False, **opts)
        assert vol.voxel_size == ts.pixel_size and vol.shape == truth.shape
        assert vol.origin == tuple(-32 * ts.pixel_size for _ in range(3))
        err[method] = rel_error(vol.data, truth)
        log = vol.metadata["reconstruction"]["log"]
        assert len(log) == opts.get("iterations", 1) and all(e["seconds"] >= 0 for e in log)
        assert len(vol.metadata["reconstruction"]["r1_per_projection"]) == ts.n_images
    assert err["wbp"] < 0.40
    assert err["sirt"] < 0.25
    assert err["resire"] < 0.23 and err["resire"] < err["sirt"]
    assert err["genfire"] < 0.20 and err["genfire"] < err["sirt"]


def test_iterative_errors_fall(resire_sample):
    ts, _ = resire_sample
    for method in ("sirt", "resire"):
        log = reconstruct(ts, method, iterations=20, progress=False).metadata["reconstruction"]["log"]
        r1 = [e["R1"] for e in log]
        assert r1[-1] < 0.5 * r1[1] and all(b <= a + 1e-6 for a, b in zip(r1[1:], r1[2:], strict=False))
    log = reconstruct(ts, "genfire", iterations=20, oversampling=2, progress=False).metadata["reconstruction"]["log"]
    assert {"fourier_error", "R_free"} <= set(log[0]) and log[-1]["fourier_error"] < log[0]["fourier_error"]
    assert 0 < log[-1]["R_free"] < 1


def test_momentum_reaches_lower_error_sooner(resire_sample):
    ts, truth = resire_sample
    plain = reconstruct(ts, "resire", iterations=30, progress=False).data
    fast = reconstruct(ts, "resire", iterations=30, momentum=True, progress=False).data
    assert rel_error(fast, truth) < rel_error(plain, truth)


def test_asi208_resire_shows_the_atoms(shared_data):
    """Local maxima of the RESIRE tomogram (dose 1.6e5, full range) sit within 0.5 Å of ≥ 95 % of the atoms.

    Matching is one to one (aet.metrics.compare, mean shift removed), so a forest of noise maxima cannot pass.
    """
    d = shared_data / "asi208"
    ts = aet.io.read(d / "aSi_2nmFosCetr_Dose1p6e5_cov35pm_ForBM3D.mat", angles=d / "Si_Angle.mat", pixel_size=0.195)
    truth = aet.metrics.load_asi208_truth(d / "aSi_208atoms_GT.txt")
    vol = reconstruct(ts, "resire", iterations=100, progress=False)
    peaks = peak_local_max(vol.data, min_distance=4, threshold_abs=0.3 * vol.data.max())
    xyz = peaks[:, ::-1] * vol.voxel_size + np.asarray(vol.origin)[::-1]
    result = compare(AtomicModel(xyz, ["Si"]), truth, radius=0.5)
    assert result.recall >= 0.95, result.to_dict()
    assert result.precision >= 0.8
    assert np.linalg.norm(result.shift) < 0.2  # geometry right: no large offset to remove


def anisotropy(vol: np.ndarray) -> float:
    """Gradient energy along the beam (z) over that across it (x): < 1 when the volume is elongated along z."""
    return float((np.diff(vol, axis=0) ** 2).sum() / (np.diff(vol, axis=2) ** 2).sum())


@pytest.mark.parametrize("method", METHODS)
def test_genfire_workshop_all_series_and_missing_wedge_elongation(shared_data, method):
    d = shared_data / "genfire_workshop_fept"
    series = {
        "full": ("projections_FePt.mat", "angles.mat"),
        "mw": ("projections_FePt_mw.mat", "angles_mw.mat"),
        "noisy": ("projections_FePt_noisy.mat", "angles.mat"),
        "misaligned": ("projections_FePt_misaligned.mat", "angles.mat"),
    }
    ratio = {}
    for name, (images, angles) in series.items():
        ts = aet.io.read(d / images, angles=d / angles)
        vol = reconstruct(ts, method, progress=False, **FAST[method])
        assert vol.shape == (68, 68, 68) and np.isfinite(vol.data).all() and vol.data.max() > 0
        ratio[name] = anisotropy(vol.data)
    assert 0.85 < ratio["full"] < 1.2, ratio  # isotropic with the full range
    assert ratio["mw"] < 0.75 * ratio["full"], ratio  # ±50°: smeared along the beam


def test_non_square_images(resire_sample):
    """Rows ≠ columns: real-space methods reconstruct (thickness = columns); GENFIRE pads to a square, stated."""
    ts, truth = resire_sample
    crop = TiltSeries(ts.images[:, 8:56, :], ts.angles, ts.pixel_size, ts.euler_convention)
    for method in METHODS:
        vol = reconstruct(crop, method, progress=False, **FAST[method])
        assert vol.shape == (64, 48, 64)
        assert rel_error(vol.data, truth[:, 8:56, :]) < 0.45
        if method == "genfire":
            assert vol.metadata["reconstruction"]["settings"]["padded_to_square"] is True


def test_angles_beyond_90_degrees(resire_sample):
    """θ + 180° is the same line integral seen mirrored: re-expressing half the series that way changes nothing."""
    ts, _ = resire_sample
    neg = ts.angles[:, 1] < 0
    angles = ts.angles.copy()
    angles[neg, 1] += 180.0
    images = ts.images.copy()
    images[neg] = images[neg][:, :, ::-1]
    # mirrored about the rotation centre (index 32 of 64): column c ↔ 64 − c, so shift by one after the flip
    images[neg] = np.roll(images[neg], 1, axis=2)
    images[neg, :, 0] = 0
    moved = TiltSeries(images, angles, ts.pixel_size, ts.euler_convention)
    for method in ("sirt", "wbp"):
        a = reconstruct(ts, method, progress=False, **FAST[method]).data
        b = reconstruct(moved, method, progress=False, **FAST[method]).data
        assert rel_error(b, a) < 0.05, method


def test_support_given_and_auto(resire_sample):
    ts, truth = resire_sample
    mask = truth > 0.05 * truth.max()
    vol = reconstruct(ts, "resire", support=Volume(mask.astype(np.float32)), iterations=30, progress=False)
    assert (vol.data[~mask] == 0).all()
    auto = reconstruct(ts, "sirt", support="auto", iterations=20, progress=False)
    n = auto.metadata["reconstruction"]["settings"]["support_voxels"]
    assert 0 < n < truth.size
