"""aet.pipeline.report: a self-contained HTML report; aet.pipeline.browser: it renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from aet.model import AtomicModel, TiltSeries, Volume
from aet.pipeline.report import write_report

N_FIGURES_FULL = 4  # slices, 3-D model, R1 per projection, projections


def _case() -> dict:
    rng = np.random.default_rng(0)
    n = 24
    voxel = 0.5
    origin = (-6.0, -6.0, -6.0)  # (z, y, x) Å of voxel [0, 0, 0]
    positions = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [-2.0, -2.0, 0.5]])
    elements = ["Pt", "Ni", "Pt", "Ni", "Pt"]
    z, y, x = np.meshgrid(*[origin[0] + voxel * np.arange(n)] * 3, indexing="ij")
    data = np.zeros((n, n, n))
    for px, py, pz in positions:
        data += np.exp(-((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2) / (2 * 0.6**2))
    tomogram = Volume(data, voxel_size=voxel, origin=origin)
    augmented = Volume(data**2, voxel_size=voxel, origin=origin)
    images = rng.random((5, n, n)).astype(np.float32)
    tilt_series = TiltSeries(images, np.linspace(-60, 60, 5), pixel_size=voxel)
    return {
        "summary": {
            "name": "<script>alert(1)</script>",
            "n_images": 5,
            "atoms": {"Pt": 3, "Ni": 2},
            "r1": {"final": 0.123456, "initial": 0.3},
            "timings_s": {"reconstruct": 1.5, "trace": 0.25},
            "versions": {"aet": "0.1.0", "numpy": np.__version__},
            "comparison": {"recall": 1.0, "precision": 0.8, "rmsd_pm": 12.5},
        },
        "tomogram": tomogram,
        "augmented": augmented,
        "model": AtomicModel(positions, elements),
        "tilt_series": tilt_series,
        "calculated": images * 0.9,
        "r1_per_projection": [0.1, 0.12, 0.09, 0.11, 0.13],
        "truth": AtomicModel(positions + 0.1, elements),
    }


def _n_png(text: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', text))


def test_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    case = _case()
    out = write_report(tmp_path / "report.html", **case)
    assert out == tmp_path / "report.html" and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left behind
    text = out.read_text(encoding="utf-8")
    assert "<title>aet report</title>" in text and "<h1>aet report</h1>" in text
    assert _n_png(text) == N_FIGURES_FULL == text.count("<figure>") == text.count("<figcaption>")
    assert len(re.findall(r'<img [^>]*alt="[^"]+"', text)) == N_FIGURES_FULL
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for shown in ("Pt", "Ni", "0.1235", "rmsd_pm", "1.5 s", "Atom counts: traced vs ground truth"):
        assert shown in text


def test_report_optional_sections(tmp_path: Path) -> None:
    case = _case() | {"augmented": None, "calculated": None, "r1_per_projection": None, "truth": None}
    text = write_report(tmp_path / "report.html", **case).read_text(encoding="utf-8")
    assert _n_png(text) == 2  # slices and 3-D model only
    assert "Atom counts: traced vs ground truth" not in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    from aet.pipeline.browser import check_report

    report = write_report(tmp_path / "report.html", **_case())
    shot = tmp_path / "shot.png"
    assert check_report(report, screenshot=shot) == []
    assert shot.is_file()
