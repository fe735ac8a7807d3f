"""aet.prepare.support: the film's level, gradient and lattice fitted beside the particle and subtracted under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aet.errors import AetInputError
from aet.model import AtomicModel
from aet.pipeline.run import _prepare
from aet.prepare.support import footprint, remove_support
from aet.settings.run import PrepareSettings
from aet.simulate import Acquisition, simulate_tilt_series
from aet.simulate.structures import build_model, on_support

PIXEL = 0.4


def _particle(rows: int = 96) -> np.ndarray:
    """Gaussian atoms on a 2.5 Å grid inside a disc of 9 Å radius, peak 100 counts."""
    y, x = (np.mgrid[0:rows, 0:rows] - rows / 2) * PIXEL
    img = np.zeros((rows, rows))
    for cy in np.arange(-9, 9.1, 2.5):
        for cx in np.arange(-9, 9.1, 2.5):
            if np.hypot(cy, cx) <= 9:
                img += 100 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 0.5**2))
    return img


def test_a_crystalline_film_is_carried_under_the_particle() -> None:
    """Film = level + gradient + two lattice fringes (10 counts each): what is left under the particle is the
    particle, far closer than the border median leaves it."""
    rows = 96
    y, x = np.mgrid[0:rows, 0:rows]
    film = 20 + 0.05 * x + 10 * np.cos(2 * np.pi * (0.11 * y + 0.23 * x) + 0.3) + 10 * np.cos(2 * np.pi * 0.17 * y)
    particle = _particle(rows)
    cleaned, _, fit = remove_support((particle + film)[None], PIXEL)
    under = footprint(particle + film, PIXEL)
    left = np.abs(cleaned[0] - particle)[under]
    median_left = np.abs(particle + film - np.median((particle + film)[~under]) - particle)[under]
    assert fit.peaks[0] >= 2
    assert left.max() < 1.0 < 10 < median_left.max()
    assert abs(fit.level[0] - film.mean()) < 0.5


def test_an_amorphous_film_gets_no_lattice_and_loses_only_its_level() -> None:
    rng = np.random.default_rng(0)
    film = 30 + rng.normal(0, 3, (96, 96))
    particle = _particle()
    cleaned, (other,), fit = remove_support((particle + film)[None], PIXEL, others=((particle + film)[None] + 1,))
    assert fit.peaks[0] == 0
    under = footprint(particle + film, PIXEL)
    assert abs(np.mean(cleaned[0][under] - particle[under])) < 0.5
    np.testing.assert_allclose(other[0], cleaned[0] + 1)  # the same model subtracted from the other copy


def test_a_particle_that_fills_the_image_is_refused() -> None:
    img = _particle(48)  # the disc and its margin cover the image
    with pytest.raises(AetInputError, match="film beside the particle"):
        remove_support(img[None] + 5, PIXEL)


def _supported_series(kind: str) -> tuple:
    truth = build_model("cuboctahedron", ["Pt"], 1.6)
    sample = on_support(truth, thickness=15.0, width=(80.0, 40.0), gap=2.0, support=kind, seed=1)
    acq = Acquisition(pixel_size=0.4, image_size=72, dose=None, seed=1)
    angles = np.linspace(-60, 60, 7)
    return (simulate_tilt_series(sample, angles, acq), simulate_tilt_series(truth, angles, acq))


def test_aet_run_prepare_removes_a_ceria_film(tmp_path: Path) -> None:
    """Through aet run's prepare stage: a CeO₂ film (Ce is heavy) is removed far better than by the border median
    alone, and the record says what was fitted."""
    ts, alone = _supported_series("CeO2")
    (tmp_path / ".aet").mkdir()
    settings = PrepareSettings(align=None, normalise=False)
    removed = _prepare(ts, PrepareSettings(align=None, normalise=False, support="remove"), tmp_path, False, None)
    kept = _prepare(ts, settings, tmp_path, False, None)
    ref = alone.images.astype(np.float64)
    err_removed = np.abs(removed.images - ref).mean()
    err_kept = np.abs(kept.images - ref).mean()
    assert err_removed < 0.6 * err_kept
    record = removed.metadata["prepare"]["support_fit"]
    assert record["margin_A"] == 3.0 and len(record["lattice_peaks"]) == ts.n_images
    assert "support_fit" not in kept.metadata["prepare"] and kept.metadata["prepare"]["support"] == "keep"


def test_support_removal_is_refused_for_a_film(tmp_path: Path) -> None:
    ts, _ = _supported_series("C")
    (tmp_path / ".aet").mkdir()
    with pytest.raises(AetInputError, match="film itself"):
        _prepare(ts, PrepareSettings(align=None, sample="film", support="remove"), tmp_path, False, None)


def test_on_support_keeps_the_particle_and_labels_the_film() -> None:
    truth = AtomicModel(np.zeros((1, 3)), ["Pt"])
    sample = on_support(truth, thickness=10.0, width=30.0, gap=2.0, support="SiN")
    film = sample.positions[sample.labels == 1]
    assert film[:, 2].max() == pytest.approx(-2.0)
    assert set(np.array(sample.elements)[sample.labels == 1]) == {"Si", "N"}


def test_aet_run_refuses_support_removal_on_a_stated_film_before_any_stage(tmp_path: Path) -> None:
    from aet.errors import AetUsageError
    from aet.pipeline.run import run

    ts, _ = _supported_series("C")
    with pytest.raises(AetUsageError, match="sample = \"film\""):
        run(ts, tmp_path / "run", overrides={"prepare": {"sample": "film", "support": "remove"}}, quiet=True)
    assert not (tmp_path / "run").exists()
