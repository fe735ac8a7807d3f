"""aet analyse end to end: the files a user opens, and one clear sentence for a model it cannot analyse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

import aet
from aet.analysis import analyse
from aet.errors import AetInputError
from aet.model import AtomicModel
from aet.simulate.structures import cuboctahedron, random_alloy


def run(*args: str) -> subprocess.CompletedProcess:
    code = "from aet.cli import run_app; run_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_cli_writes_columns_json_and_page(tmp_path: Path) -> None:
    model = random_alloy(cuboctahedron("Pt", 2.5), ["Ni", "Pt"], [0.3, 0.7])
    aet.io.write(model, tmp_path / "atoms.xyz")
    out = run("analyse", str(tmp_path / "atoms.xyz"), "--out", str(tmp_path / "an"))
    assert out.returncode == 0, out.stderr
    assert "fcc" in out.stdout and "1 grain" in out.stdout
    atoms = ase.io.read(tmp_path / "an" / "atoms.xyz", format="extxyz")
    for column in ("coordination", "structure", "facet", "strain", "strain_crystal", "q6", "grain", "voronoi"):
        assert column in atoms.arrays, column
    assert atoms.arrays["strain"].shape == (len(model), 9)
    text = (tmp_path / "an" / "analysis.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    assert summary["chemistry"]["warren_cowley"]["Ni-Pt"][0] == pytest.approx(0, abs=0.15)
    assert set(summary["facets"]["areas_A2"]) == {"{100}", "{111}"}
    assert (tmp_path / "an" / "analysis.html").read_text().count("data:image/png;base64,") >= 2
    again = run("analyse", str(tmp_path / "atoms.xyz"), "--out", str(tmp_path / "an"))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_bad_models_get_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(AetInputError, match="at least two atoms"):
        analyse(AtomicModel(np.zeros((1, 3)), ["Pt"]))
    pair = AtomicModel(np.array([[0.0, 0, 0], [2.8, 0, 0], [0, 2.8, 0]]), ["Pt"] * 3)
    with pytest.raises(AetInputError, match="no two atoms are closer than the cut-off of 1.5 Å"):
        analyse(pair, cutoff=1.5, progress=False)
    nm = cuboctahedron("Pt", 2.0)
    nm.positions /= 10  # a user's file in nm
    with pytest.raises(AetInputError, match="give positions in Å"):
        analyse(nm, progress=False)
    (tmp_path / "odd.xyz").write_text("2\n\nQq 0 0 0\nPt 2.8 0 0\n")
    out = run("analyse", str(tmp_path / "odd.xyz"), "--out", str(tmp_path / "an"))
    assert out.returncode == 1 and "error:" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "an").exists()


def test_model_without_species_skips_chemistry() -> None:
    model = cuboctahedron("Pt", 2.0)
    unknown = AtomicModel(model.positions, ["X"] * len(model))
    result = analyse(unknown, progress=False)
    assert "chemistry" not in result.summary
    assert any("unknown species" in note and "chemistry is skipped" in note for note in result.notes)
    assert result.summary["structure"]["counts"]["fcc"] > 0
