"""The published asi208 figures, reproduced from the published traced models (shared/data/asi208)."""

from __future__ import annotations

import numpy as np
import pytest

import aet
from aet.metrics import compare, load_asi208_truth, load_published_asi208_model
from aet.metrics.reference import published_asi208_to_angstrom

# dose tag → (atoms found of 208, RMSD in pm): shared/data/README.md, matched within 0.9 Å after the mean shift.
PUBLISHED = {"8p0e3": (199, 28.9), "1p6e4": (208, 17.3), "1p6e5": (208, 4.2)}


@pytest.mark.parametrize("dose", list(PUBLISHED))
def test_published_figures_are_reproduced(shared_data, dose):
    d = shared_data / "asi208"
    truth = load_asi208_truth(d / "aSi_208atoms_GT.txt")
    model = load_published_asi208_model(d / f"published_traced_model_Dose{dose}.mat")
    res = compare(model, truth, radius=0.9)
    found, rmsd = PUBLISHED[dose]
    assert (res.n_truth, res.n_matched) == (208, found)
    assert res.n_model == found and res.precision == 1.0  # every published traced atom is a true one
    assert abs(res.rmsd_pm - rmsd) <= 0.3, res.rmsd_pm
    assert res.converged and res.species_accuracy == 1.0
    np.testing.assert_allclose(res.shift, -12.67, atol=0.02)  # the published volume's origin


def test_the_swap_is_needed_and_no_sign_flip(shared_data):
    d = shared_data / "asi208"
    truth = load_asi208_truth(d / "aSi_208atoms_GT.txt")
    model = load_published_asi208_model(d / "published_traced_model_Dose1p6e5.mat")
    as_in_file = aet.io.read(d / "aSi_208atoms_GT.txt", elements={1: "Si"})
    np.testing.assert_array_equal(truth.positions, as_in_file.positions[:, [1, 0, 2]])
    assert compare(model, as_in_file).n_matched < 100  # unswapped: mostly chance matches
    flipped = model.positions * np.array([1.0, 1.0, -1.0])
    assert compare(flipped, truth).n_matched < 100


def test_published_units():
    x = np.array([-3.0, 0.0, 12.5])
    np.testing.assert_allclose(published_asi208_to_angstrom(3 * (x / 0.195 + 2)), x, atol=1e-12)


def test_aet_compare_command_on_the_published_model(shared_data, tmp_path):
    """The CLI route: convert the published files once (loaders above), then `aet compare model truth`."""
    import json
    import subprocess
    import sys

    d = shared_data / "asi208"
    aet.io.write(load_published_asi208_model(d / "published_traced_model_Dose1p6e4.mat"), tmp_path / "m.xyz")
    aet.io.write(load_asi208_truth(d / "aSi_208atoms_GT.txt"), tmp_path / "t.xyz")
    code = "from aet.cli import run_app; run_app()"
    args = ["compare", str(tmp_path / "m.xyz"), str(tmp_path / "t.xyz"), "--json", str(tmp_path / "s.json")]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["n_matched"] == 208 and abs(scores["rmsd_pm"] - 17.3) <= 0.3
