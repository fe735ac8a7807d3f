"""aet.metrics.compare / match_atoms on synthetic cases with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

import aet.metrics.matching as matching
from aet.errors import AetInputError
from aet.metrics import compare, match_atoms, surface_atoms
from aet.model import AtomicModel
from aet.simulate.structures import build_model


@pytest.fixture(scope="module")
def particle() -> AtomicModel:
    """Amorphous Pt particle, 2.5 nm (≈ 540 atoms, nearest neighbours ≥ 2.36 Å)."""
    return build_model("amorphous", ["Pt"], 2.5, seed=3)


def test_known_random_displacement_gives_its_rmsd(particle):
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.1, particle.positions.shape)  # 0.1 Å per axis → ≈ √3 × 10 pm
    res = compare(particle.positions + noise, particle, radius=0.9)
    assert res.n_matched == len(particle) and res.recall == 1.0 and res.precision == 1.0
    residual = noise - noise.mean(axis=0)  # what is left after the mean shift is removed
    expected = np.sqrt(np.mean(np.sum(residual**2, axis=1))) * 100
    assert res.rmsd_pm == pytest.approx(expected, rel=1e-9)
    assert res.rmsd_pm == pytest.approx(np.sqrt(3) * 10, rel=0.1)
    np.testing.assert_allclose(res.shift, -noise.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(res.rmsd_xyz_pm, np.sqrt(np.mean(residual**2, axis=0)) * 100, rtol=1e-9)
    np.testing.assert_array_equal(res.truth_index, res.model_index)  # every atom found its own partner


def test_global_shift_is_removed(particle):
    rng = np.random.default_rng(1)
    offset = np.array([0.45, -0.3, 0.25])  # 0.6 Å: many atoms start outside a 0.5 Å radius
    model = particle.positions + offset + rng.normal(0.0, 0.03, particle.positions.shape)
    res = compare(model, particle, radius=0.5, initial_shift="zero")
    assert res.converged and res.n_matched == len(particle)
    np.testing.assert_allclose(res.shift, -offset, atol=0.01)
    assert res.rmsd_pm < 7  # √3 × 3 pm of noise, not the 60 pm offset
    # Without removing the shift the same radius misses atoms and the error includes the offset.
    fixed = compare(model, particle, radius=0.5, remove_shift=False, initial_shift="zero")
    assert fixed.n_matched < len(particle) and fixed.rmsd_pm > 40


def test_offset_larger_than_radius_found_from_the_centroid(particle):
    model = particle.positions + np.array([12.7, 12.6, -12.8])
    assert compare(model, particle, initial_shift="zero").n_matched < 10  # only chance overlaps at the rims
    res = compare(model, particle)  # "auto": also starts from the centroid difference
    assert res.n_matched == len(particle) and res.rmsd_pm < 1e-6
    np.testing.assert_allclose(res.shift, [-12.7, -12.6, 12.8], atol=1e-9)


def test_missing_and_extra_atoms(particle):
    n = len(particle)
    rng = np.random.default_rng(2)
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, 20, replace=False)] = False
    extra = rng.normal(size=(7, 3))
    extra = extra / np.linalg.norm(extra, axis=1, keepdims=True) * 30.0  # far outside the 12.5 Å particle
    model = np.concatenate([particle.positions[keep], extra])
    res = compare(model, particle, initial_shift="zero")
    assert (res.n_model, res.n_truth, res.n_matched) == (n - 20 + 7, n, n - 20)
    assert res.recall == pytest.approx((n - 20) / n)
    assert res.precision == pytest.approx((n - 20) / (n - 13))
    assert res.f1 == pytest.approx(2 * res.recall * res.precision / (res.recall + res.precision))
    assert set(res.truth_index) == set(np.flatnonzero(keep))
    # Extra atoms far outside the particle count as false detections on the surface.
    assert res.regions["surface"].n_model + res.regions["interior"].n_model == res.n_model
    assert res.regions["surface"].n_model - res.regions["surface"].n_matched == 7


def test_species_mismatch_counts(particle):
    n = len(particle)
    truth = AtomicModel(particle.positions, ["Pt"] * (n - 100) + ["Ni"] * 100)
    wrong = np.r_[0:10, n - 5 : n]  # 10 Pt called Ni, 5 Ni called Pt
    elements = list(truth.elements)
    for k in wrong:
        elements[k] = "Ni" if elements[k] == "Pt" else "Pt"
    res = compare(AtomicModel(particle.positions, elements), truth, initial_shift="zero")
    assert res.n_matched == n and res.recall == 1.0
    assert res.species_accuracy == pytest.approx(1 - 15 / n)
    pt, ni = res.elements["Pt"], res.elements["Ni"]
    assert (pt.n_truth, pt.n_model, pt.n_matched, pt.n_correct) == (n - 100, n - 100 - 10 + 5, n - 100, n - 110)
    assert pt.recall == pytest.approx((n - 110) / (n - 100)) and pt.precision == pytest.approx((n - 110) / (n - 105))
    assert (ni.n_truth, ni.n_model, ni.n_correct) == (100, 105, 95)
    assert ni.recall == pytest.approx(0.95) and ni.precision == pytest.approx(95 / 105)
    assert res.confusion == {"Pt": {"Pt": n - 110, "Ni": 10}, "Ni": {"Ni": 95, "Pt": 5}}


def test_optimal_assignment_beats_greedy():
    # Greedy nearest-first takes m0–t0 (0.55 Å) and leaves m1 without a partner; the optimum matches both.
    truth = np.array([[0.0, 0, 0], [1.2, 0, 0]])
    model = np.array([[0.55, 0, 0], [-0.8, 0, 0]])
    ia, ib = match_atoms(model, truth, 0.9)
    assert ia.tolist() == [0, 1] and ib.tolist() == [1, 0]
    assert compare(model, truth, 0.9, remove_shift=False, initial_shift="zero").n_matched == 2


def _brute_force(a: np.ndarray, b: np.ndarray, r: float) -> tuple[int, float]:
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
    bonus = (min(len(a), len(b)) + 1) * (r * r + 1)
    cost = np.where(d2 <= r * r, d2 - bonus, 0.0)
    i, j = linear_sum_assignment(cost)
    ok = cost[i, j] < 0
    return int(ok.sum()), float(d2[i[ok], j[ok]].sum())


@pytest.mark.parametrize("dense_limit", [matching.DENSE_LIMIT, 0])  # 0 forces the sparse LAPJVsp path
def test_matching_is_optimal_on_crowded_random_sets(monkeypatch, dense_limit):
    monkeypatch.setattr(matching, "DENSE_LIMIT", dense_limit)
    rng = np.random.default_rng(5)
    for _ in range(60):
        n, m = rng.integers(1, 30, 2)
        a, b, r = rng.uniform(0, 5, (n, 3)), rng.uniform(0, 5, (m, 3)), rng.uniform(0.5, 2.5)
        ia, ib = match_atoms(a, b, r)
        assert len(set(ia.tolist())) == len(ia) and len(set(ib.tolist())) == len(ib)  # one to one
        assert np.all(np.linalg.norm(a[ia] - b[ib], axis=1) <= r)
        count, total = _brute_force(a, b, r)
        assert len(ia) == count
        assert ((a[ia] - b[ib]) ** 2).sum() == pytest.approx(total, abs=1e-9)


def _coordination(pos: np.ndarray, cutoff: float) -> np.ndarray:
    return np.array([len(x) - 1 for x in cKDTree(pos).query_ball_point(pos, cutoff)])


def test_surface_of_a_cuboctahedron_is_its_outer_shell():
    model = build_model("cuboctahedron", ["Pt"], 2.0)  # 561 atoms, 5 shells
    nn = 3.92 / np.sqrt(2)
    cn = _coordination(model.positions, 1.2 * nn)
    outer = cn < 12  # the outer shell: every atom with a missing nearest neighbour
    assert outer.sum() == 252
    np.testing.assert_array_equal(surface_atoms(model.positions), outer)
    # A model missing only surface atoms loses surface recall and keeps interior recall.
    rng = np.random.default_rng(3)
    gone = rng.choice(np.flatnonzero(outer), 30, replace=False)
    res = compare(np.delete(model.positions, gone, axis=0), model, initial_shift="zero")
    surf, inner = res.regions["surface"], res.regions["interior"]
    assert (surf.n_truth, inner.n_truth) == (252, 309)
    assert surf.n_matched == 222 and surf.recall == pytest.approx(222 / 252) and inner.recall == 1.0


def test_surface_ignores_a_vacancy_and_matches_the_probe_sphere_definition():
    sphere = build_model("sphere", ["Pt"], 2.5).positions
    centre = int(np.argmin(np.linalg.norm(sphere, axis=1)))
    full = surface_atoms(sphere)
    holed = surface_atoms(np.delete(sphere, centre, axis=0))
    np.testing.assert_array_equal(holed, np.delete(full, centre))  # a vacancy makes no new surface
    # Definition: a surface atom can be touched by an empty probe sphere (radius 2 × 2.77 Å). Sample directions.
    amorph = build_model("amorphous", ["Pt"], 2.0, seed=1).positions
    probe = 2 * np.median(cKDTree(amorph).query(amorph, k=2)[0][:, 1])
    k = 1500
    t = np.arange(k) + 0.5
    phi, theta = np.arccos(1 - 2 * t / k), np.pi * (1 + 5**0.5) * t
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
    centres = amorph[:, None, :] + probe * dirs[None]
    dist, _ = cKDTree(amorph).query(centres.reshape(-1, 3))
    touched = np.any(dist.reshape(len(amorph), k) > probe * (1 - 1e-3), axis=1)
    found = surface_atoms(amorph)
    assert 0.2 < found.mean() < 0.6
    assert np.count_nonzero(found != touched) <= 3  # only atoms exposed through gaps narrower than sampled


def test_empty_model_and_empty_truth(particle):
    res = compare(np.zeros((0, 3)), particle)
    assert (res.n_model, res.n_matched, res.recall, res.precision, res.f1) == (0, 0, 0.0, 0.0, 0.0)
    assert np.isnan(res.rmsd_pm)
    d = res.to_dict()
    assert d["rmsd_pm"] is None and d["species_accuracy"] is None
    json.dumps(d, allow_nan=False)
    res = compare(particle, AtomicModel(np.zeros((0, 3)), []))
    assert (res.n_truth, res.n_matched, res.recall, res.precision) == (0, 0, 0.0, 0.0)


def test_result_is_json_dict_like_and_renders(particle):
    rng = np.random.default_rng(4)
    model = AtomicModel(particle.positions + rng.normal(0, 0.05, particle.positions.shape), particle.elements)
    res = compare(model, particle)
    d = json.loads(json.dumps(res.to_dict(pairs=True), allow_nan=False))
    assert d["n_matched"] == len(particle) and d["radius_A"] == 0.9 and res["rmsd_pm"] == d["rmsd_pm"]
    assert set(d["regions"]) == {"surface", "interior"} and d["elements"]["Pt"]["n_correct"] == len(particle)
    assert len(d["pairs"]["model_index"]) == len(particle)
    console = Console(record=True, width=120)
    console.print(res)
    text = console.export_text()
    assert f"{len(particle)}/{len(particle)}" in text and f"{res.rmsd_pm:.1f}" in text and "Pt" in text


def test_bad_arguments(particle):
    with pytest.raises(AetInputError):
        compare(particle, particle, radius=0)
    with pytest.raises(AetInputError):
        compare(particle, particle, initial_shift="middle")
    with pytest.raises(AetInputError):
        compare(particle, particle, surface=np.ones(3, dtype=bool))
    with pytest.raises(AetInputError):
        compare(np.ones((4, 2)), particle)


def test_hundred_thousand_atoms_run():
    g = np.arange(47) * 2.6
    lattice = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)[:100_000]
    rng = np.random.default_rng(6)
    model = lattice + rng.normal(0, 0.1, lattice.shape) + np.array([0.2, -0.1, 0.3])
    res = compare(model, lattice, radius=0.9)
    assert res.n_truth == res.n_model == 100_000 and res.n_matched == 100_000
    assert res.rmsd_pm == pytest.approx(np.sqrt(3) * 10, rel=0.05)
