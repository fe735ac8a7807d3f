"""The README's step-by-step CLI route (simulate → reconstruct → augment → trace → compare) on a 2 nm FePt
particle gets the species right, as ``aet run`` does: ``aet augment --elements`` picks the alloy network and
``aet trace`` traces its output with the model card's settings and the species from the tomogram."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aet
from aet.metrics import compare
from aet.settings.trace import TraceSettings
from aet.tracing import with_recommendation


def _aet(*args: str) -> None:
    code = "from aet.cli import run_app; run_app()"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"aet {' '.join(args)}: {out.stderr}"


def test_readme_route_fept(tmp_path: Path) -> None:
    p = str(tmp_path / "fept")
    _aet("simulate", "--structure", "cuboctahedron", "--element", "Fe,Pt", "--chemistry", "l10", "--size", "2",
         "--out", p)  # fmt: skip
    _aet("reconstruct", f"{p}.mrc", f"{p}_tomo.mrc", "--threads", "2")
    _aet("augment", f"{p}_tomo.mrc", f"{p}_aug.mrc", "--elements", "Fe,Pt", "--threads", "2")
    augmented = aet.io.read_volume(f"{p}_aug.mrc")
    assert augmented.metadata["augment"]["model"] == "unet-alloy"
    # the file carries the card's tracing recommendation, which aet trace applies to the settings left at auto
    assert with_recommendation(TraceSettings(), augmented).min_height == 0.45
    _aet("trace", f"{p}_aug.mrc", f"{p}_traced.xyz", "--elements", "Fe,Pt", "--species-volume", f"{p}_tomo.mrc")
    traced, truth = aet.io.read_model(f"{p}_traced.xyz"), aet.io.read_model(f"{p}_truth.xyz")
    result = compare(traced, truth, radius=0.9)
    assert result.recall >= 0.98 and result.precision >= 0.98
    assert result.species_accuracy >= 0.99
    assert result.elements["Fe"].recall >= 0.98
