"""Tracking atoms through a series: registration, correspondences, hops, jumps, swaps, output files, CLI."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

import aet
from aet.cli import app
from aet.errors import AetInputError, AetUsageError
from aet.metrics.tracking import tracking_accuracy
from aet.model import AtomicModel
from aet.simulate.dynamics import Evolution, evolve
from aet.simulate.structures import order_l10, thermal_displacement, truncated_octahedron, vacancies
from aet.tracking import register, track, track_pair, warm_start, write_tracking


def _noisy(models: list[AtomicModel], sigma: float) -> list[AtomicModel]:
    return [AtomicModel(thermal_displacement(m, sigma, seed=t).positions, m.elements) for t, m in enumerate(models)]


@pytest.fixture(scope="module")
def fept_series() -> list[AtomicModel]:
    """An ordered FePt particle with vacancies: swaps, vacancy hops and adatom hops, 2° and 5 Å between steps."""
    model = vacancies(order_l10(truncated_octahedron("Pt", 2.5, 3.85), "Fe", "Pt", 3.85), 0.02, seed=1)
    ev = Evolution(md_ps=0, adatoms=3, surface_hops=2, swaps=2, vacancy_hops=2, seed=3)
    return evolve(model, 3, ev, progress=False)


def test_swaps_vacancy_hops_and_surface_hops_are_reported_as_such(fept_series):
    models = _noisy(fept_series, 0.05)
    result = track(models)
    names = {"swap": "swap", "vacancy_hop": "jump", "surface_hop": "hop"}
    for step, truth in zip(result.steps, fept_series[1:], strict=True):
        # identity is the index in these models: every correspondence must pair an atom with itself
        assert np.array_equal(step.before, step.after)
        assert len(step.vanished) == len(step.appeared) == 0
        found = sorted((e["kind"], sorted(e["before"])) for e in step.events)
        expected = sorted((names[e["kind"]], sorted(e["atoms"])) for e in truth.metadata["events"])
        assert found == expected
        assert step.registration.rotation_deg == pytest.approx(2.0, abs=0.02)
    accuracy = tracking_accuracy(result, fept_series)
    for a in accuracy:
        assert a["fraction_right"] == 1.0
        # 5 pm per axis in each model: √2·√3·5 ≈ 12 pm for a displacement
        assert a["displacement_rms_error_pm"] < 14.0


def test_order_parameters_follow_the_l10_order(fept_series):
    result = track(fept_series[:2])
    assert result.order[0]["l10_S"] == pytest.approx(1.0, abs=0.01)
    assert result.order[1]["l10_S"] < result.order[0]["l10_S"]  # two swaps disorder it a little
    assert result.order[0]["structure_fractions"]["fcc"] > 0.4


def test_registration_finds_large_turns_and_affine_maps():
    model = truncated_octahedron("Pt", 2.5)
    nn = 3.92 / 2**0.5
    turn = Rotation.from_rotvec(np.radians(12.0) * np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8]))
    moved = turn.apply(model.positions) + [4.0, -3.0, 2.0]
    reg = register(model.positions, moved, nn)
    assert reg.rotation_deg == pytest.approx(12.0, abs=0.01)
    assert np.abs(reg.apply(model.positions) - moved).max() < 1e-6
    stretch = np.diag([1.01, 1.0, 0.99])
    reg = register(model.positions, model.positions @ stretch.T, nn, affine=True)
    assert np.allclose(reg.matrix, stretch, atol=1e-6) and reg.kind == "affine"


def test_vanished_and_appeared_atoms():
    model = truncated_octahedron("Pt", 2.0)
    later = AtomicModel(np.concatenate([model.positions[1:], [[0.0, 0.0, 30.0]]]), model.elements)
    step = track_pair(model, later)
    assert list(step.vanished) == [0] and list(step.appeared) == [len(model) - 1]
    kinds = [e["kind"] for e in step.events]
    assert kinds == ["vanished", "appeared"]
    result = track([model, later, later])
    assert result.track_ids[1][-1] == len(model)  # a new id for the new atom, and it keeps it
    assert result.track_ids[2][-1] == len(model)


def test_bad_input():
    model = truncated_octahedron("Pt", 1.6)
    with pytest.raises(AetInputError, match="at least two models"):
        track([model])
    with pytest.raises(AetInputError, match="at most the jump radius"):
        track_pair(model, model, radius=3.0, jump_radius=2.0)
    with pytest.raises(AetInputError, match="at least 4 atoms"):
        track_pair(model.subset(np.arange(3)), model)


def test_files_trajectory_in_the_first_frame(tmp_path, fept_series):
    result = track(_noisy(fept_series, 0.02))
    paths = write_tracking(tmp_path / "out", result, ["a.xyz", "b.xyz", "c.xyz"])
    assert [p.name for p in paths] == ["trajectory.xyz", "tracking.json", "tracking.html"]
    frames = ase.io.read(paths[0], index=":")
    assert len(frames) == 3
    for t, frame in enumerate(frames):
        assert np.array_equal(frame.arrays["id"], result.track_ids[t])
    # rigid motion removed: an atom that stayed sits where it sat in frame 0 (to within the noise)
    stayed = result.steps[0].kind == 0
    d = frames[1].positions[result.steps[0].after[stayed]] - frames[0].positions[result.steps[0].before[stayed]]
    assert np.sqrt(np.mean(np.sum(d**2, axis=1))) < 0.06
    assert "Displacement map" in paths[2].read_text()
    with pytest.raises(AetUsageError, match="--overwrite"):
        write_tracking(tmp_path / "out", result)


def test_warm_start_moves_only_atoms_that_stayed():
    model = truncated_octahedron("Pt", 2.0)
    refined = AtomicModel(model.positions + [1.0, 0.0, 0.0], model.elements, b_factor=np.full(len(model), 4.0))
    traced = thermal_displacement(model, 0.05, seed=0)
    traced.positions[0] += [1.5, 0.0, 0.0]  # this atom hopped: it keeps its traced position
    warm, n = warm_start(traced, refined)
    assert n == len(model) - 1
    # the refined positions, registered onto the traced ones: far closer to the truth than the traced 5 pm noise
    assert np.sqrt(np.mean(np.sum((warm.positions[1:] - model.positions[1:]) ** 2, axis=1))) < 0.01
    assert np.array_equal(warm.positions[0], traced.positions[0])
    assert np.all(warm.b_factor == 4.0)


def test_track_cli(tmp_path, fept_series):
    files = []
    for t, m in enumerate(fept_series[:2]):
        files.append(tmp_path / f"m{t}.xyz")
        aet.io.write(m, files[-1])
    result = CliRunner().invoke(app, ["track", *map(str, files), "--out", str(tmp_path / "tr")])
    assert result.exit_code == 0, result.output
    assert "2 swaps" in result.output and "2 jumps" in result.output
    assert (tmp_path / "tr" / "tracking.json").exists()
