"""R_free: held-out projections stay out of the fit, and the refinement keeps the model they like best."""

from __future__ import annotations

import numpy as np
import pytest

import aet
from aet.metrics import compare
from aet.model import AtomicModel, TiltSeries
from aet.refinement import FREE_TOLERANCE, PER_ATOM_GAIN, free_images
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import amorphous, build_model


def test_free_images_spread_over_the_tilt_range():
    assert free_images(60, 0.1).tolist() == [5, 15, 25, 35, 45, 55]
    assert free_images(21, 0.1).tolist() == [5, 15]
    assert len(free_images(9, 0.1)) == 0 and len(free_images(60, 0.0)) == 0


@pytest.fixture(scope="module")
def low_dose():
    """561-atom Pt particle, 27 projections over ±65°, 1e3 e/Å² (a few counts per pixel), start 17 pm off."""
    truth = build_model("cuboctahedron", ["Pt"], 2.0)
    ts = simulate_tilt_series(truth, tilt_range(-65, 65, 5), Acquisition(dose=1e3, seed=2))
    start = AtomicModel(truth.positions + np.random.default_rng(0).normal(0, 0.1, truth.positions.shape),
                        truth.elements)  # fmt: skip
    return truth, ts, start


def test_held_out_images_do_not_steer_the_atoms(low_dose):
    """With the stopping rule out of play, replacing the held-out images by noise leaves the atoms where they were."""
    truth, ts, start = low_dose
    kw = {"iterations": 3, "free_patience": 100, "angle_correction": False, "progress": False}
    a, rep = aet.refine(start, ts, **kw)
    images = ts.images.copy()
    free = list(rep.free_images)
    images[free] = np.random.default_rng(5).poisson(images[free].mean(), images[free].shape)
    b, rep_b = aet.refine(start, TiltSeries(images, ts.angles, ts.pixel_size, ts.euler_convention), **kw)
    assert np.abs(a.positions - b.positions).max() < 1e-6  # Å: threaded sums differ in the last digits
    assert rep_b.r_free[0] > 1.5 * rep.r_free[0]  # but R_free sees the change


def test_refinement_keeps_the_latest_state_within_the_noise_of_the_lowest_r_free(low_dose):
    """The model returned is the last one whose R_free was within FREE_TOLERANCE of the lowest so far, found before
    the fit turned to the noise: the refinement stopped after free_patience iterations above that."""
    truth, ts, start = low_dose
    refined, rep = aet.refine(start, ts, progress=False, per_atom="off")
    best, r_free = rep.best_iteration, np.array(rep.r_free)
    assert r_free[best] <= min(r_free) * (1 + FREE_TOLERANCE) and min(r_free) <= r_free[0]
    lowest = np.minimum.accumulate(r_free)
    assert np.all(r_free[best + 1 :] > lowest[best + 1 :] * (1 + FREE_TOLERANCE))
    assert rep.stopped == "R_free" and len(r_free) - 1 - best == 3  # free_patience
    assert compare(refined, truth, 0.9).rmsd_pm < 0.8 * compare(start, truth, 0.9).rmsd_pm
    assert rep.log[-1].stage == "held-out images"


def test_per_atom_b_and_h_are_kept_only_where_r_free_asks_for_it():
    """``per_atom = "auto"``: an amorphous Ta cluster whose atoms alternate between B = 4 and 6 Å² (the same
    scattering power, as the simulator makes them) gets its own B per atom back, and more precise positions; with one
    B for all, the per-atom phase lowers no R_free and the one-B model is returned."""
    truth = amorphous("Ta", 2.0, seed=0)
    start = AtomicModel(truth.positions + np.random.default_rng(0).normal(0, 0.05, truth.positions.shape),
                        truth.elements)  # fmt: skip
    b = np.where(np.arange(len(truth)) % 2 == 0, 4.0, 6.0)
    kw = {"angle_correction": False, "progress": False}
    mixed = simulate_tilt_series(AtomicModel(truth.positions, truth.elements, b_factor=b), tilt_range(-70, 70, 3.5),
                                 Acquisition(dose=1e5, seed=2))  # fmt: skip
    auto, rep = aet.refine(start, mixed, **kw)
    one_b, rep_off = aet.refine(start, mixed, per_atom="off", **kw)
    assert rep.per_atom and "per-atom B and H" in {step.stage for step in rep.log} and not rep_off.per_atom
    assert min(rep.r_free) < 0.8 * min(rep_off.r_free)
    assert np.median(auto.b_factor[b == 6.0]) == pytest.approx(6.0, rel=0.05)
    assert np.median(auto.b_factor[b == 4.0]) == pytest.approx(4.0, rel=0.05)
    assert compare(auto, truth, 0.9).rmsd_pm < 0.8 * compare(one_b, truth, 0.9).rmsd_pm
    uniform = simulate_tilt_series(truth, tilt_range(-70, 70, 3.5), Acquisition(dose=1e5, seed=2))
    same, rep_same = aet.refine(start, uniform, **kw)
    assert not rep_same.per_atom and np.ptp(same.b_factor) == 0
    assert rep_same.r_free[rep_same.best_iteration] * (1 - PER_ATOM_GAIN) <= min(rep_same.r_free)
