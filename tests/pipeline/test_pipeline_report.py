"""aet.pipeline.report: a self-contained HTML report; aet.pipeline.browser: it renders in headless Chromium."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from aet.metrics import compare
from aet.metrics.rfactor import RFactors
from aet.model import AtomicModel, TiltSeries, Volume
from aet.pipeline import report as report_module
from aet.pipeline.browser import _console_errors, _viewer_problems, find_chromium
from aet.pipeline.report import _key_figures, _script_json, _species_colours, write_report
from aet.pipeline.summary import RunSummary, TiltSeriesFacts

N_FIGURES_FULL = 4  # slices, 3-D model (the viewer's static stand-in), R1 per projection, projections
INJECTION = "<script>alert(1)</script>"


def _summary(ts: TiltSeries, model: AtomicModel, truth: AtomicModel) -> RunSummary:
    """A summary as ``aet run`` makes it, with a ground truth; its version string tries an injection."""
    comparison = replace(compare(model, truth, radius=0.9), precision=0.8, rmsd_pm=12.5, n_matched=4, n_model=5)
    return RunSummary.counting(
        model, atoms_traced=len(model), rfactors=RFactors(0.123456, 0.125, 0.02, (0.1, 0.12, 0.09, 0.11, 0.13)),
        refinement_r1=(0.3, 0.123456), tilt_series=TiltSeriesFacts.of(ts),
        timings_s={"reconstruct": 1.5, "trace": 0.25}, total_s=42.25, skipped_stages=(), seed=0,
        comparison=comparison, comparison_traced=replace(comparison, rmsd_pm=15.25),
        versions={"aet": INJECTION, "numpy": np.__version__},
    )  # fmt: skip


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
        "summary": _summary(tilt_series, AtomicModel(positions, elements), AtomicModel(positions + 0.1, elements)),
        "tomogram": tomogram,
        "augmented": augmented,
        "model": AtomicModel(positions, elements),
        "tilt_series": tilt_series,
        "calculated": images * 0.9,
        "r1_per_projection": [0.1, 0.12, 0.09, 0.11, 0.13],
        "truth": AtomicModel(positions + 0.1, elements),
    }


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    """The report of the full case (written once: the figures take seconds), its text and the case."""
    case = _case()
    out = write_report(tmp_path_factory.mktemp("report") / "report.html", **case)
    return out, out.read_text(encoding="utf-8"), case


def _n_png(text: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', text))


def _scripts(text: str) -> list[tuple[str, str]]:
    """(attributes, content) of every <script> element."""
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", text, flags=re.DOTALL | re.IGNORECASE)


def _atoms_json(text: str) -> dict:
    (payload,) = [body for attrs, body in _scripts(text) if 'id="aet-atoms"' in attrs]
    return json.loads(payload)


def test_report_is_self_contained_and_escaped(full_report: tuple[Path, str, dict]) -> None:
    out, text, _ = full_report
    assert out.name == "report.html" and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temporary file left behind
    assert "<title>aet report</title>" in text and "<h1>aet report</h1>" in text
    n_figures = len(re.findall(r"<figure\b", text))
    assert _n_png(text) == N_FIGURES_FULL == n_figures == text.count("<figcaption>")
    assert len(re.findall(r'<img [^>]*alt="[^"]+"', text)) == N_FIGURES_FULL
    assert "http://" not in text and "https://" not in text and "xmlns" not in text
    assert not re.search(r"<(link|iframe|object|embed)\b", text, flags=re.IGNORECASE)
    # the summary is escaped wherever it shows, and scripts are only the report's own: the error hook, the viewer
    # and its JSON data, all inline
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and INJECTION not in text
    scripts = _scripts(text)
    assert len(scripts) == text.lower().count("<script") == 3
    assert [re.search(r'id="([^"]+)"', attrs).group(1) for attrs, _ in scripts] == [
        "aet-error-hook",
        "aet-atoms",
        "aet-viewer-js",
    ]
    assert all("src=" not in attrs for attrs, _ in scripts)
    assert 'type="application/json"' in scripts[1][0]
    assert all("console." not in body for _, body in scripts)  # the headless check counts any console message
    for shown in ("Pt", "Ni", "0.1235", "rmsd_pm", "1.5 s", "Atom counts: traced vs ground truth"):
        assert shown in text


def test_first_screen_has_key_figures_then_slices_and_3d_view(full_report: tuple[Path, str, dict]) -> None:
    text = full_report[1]
    cards = text.index('<div class="cards">')
    slices, viewer = text.index("<figure"), text.index('<canvas id="aet-viewer"')
    details = text.index("<details>")
    assert cards < slices < viewer < text.index("R1 per projection") < details
    assert text.index("<summary>All figures (summary.json)</summary>") == details + len("<details>\n")
    assert text.index("Timings") > details  # the raw tables are folded away at the end
    first = text[cards:slices]
    for shown in (
        ">5<",  # atoms
        "Pt 3",
        "Ni 2",
        "R1 after refinement",
        "0.123",
        "before 0.300",
        "Recall",
        "goal ≥ 0.98",
        "Precision",
        "0.800",
        "12.5 pm",
        "goal ≤ 20 pm",
        "before refinement 15.2 pm",
        "4 of 5 matched",
        "42 s",
        "0.5 Å",
        "5 images",
        "−60.0° to +60.0°",
    ):
        assert shown in first, shown
    assert first.count("✓ met") == 3  # recall, RMSD, time


def test_missed_goals_are_marked() -> None:
    case = _case()
    summary = case["summary"]
    summary = replace(summary, comparison=replace(summary.comparison, recall=0.5, rmsd_pm=30.0), total_s=301.0)
    colours = _species_colours(case["model"], None)
    cards = _key_figures(summary, case["model"], case["tilt_series"], colours)
    assert cards.count("✗ missed") == 3 and "✓ met" not in cards and "301 s" in cards
    cards = _key_figures(None, case["model"], case["tilt_series"], colours)  # no summary: no figure, no card
    assert "Recall" not in cards and "R1" not in cards and "Total time" not in cards and "5 images" in cards
    no_match = replace(summary, comparison=replace(summary.comparison, rmsd_pm=float("nan")))
    assert "RMSD" not in _key_figures(no_match, case["model"], case["tilt_series"], colours)


def test_viewer_data_is_embedded_safely(full_report: tuple[Path, str, dict]) -> None:
    assert _script_json({"a": "</script><b>&"}) == '{"a":"\\u003c/script\\u003e\\u003cb\\u003e\\u0026"}'
    assert json.loads(_script_json({"a": "</script><b>&"})) == {"a": "</script><b>&"}
    _, text, case = full_report
    data = _atoms_json(text)
    assert data["species"] == ["Pt", "Ni"] and data["colours"] == ["#1f77b4", "#ff7f0e"]  # as in the PNGs
    assert [d["name"] for d in data["datasets"]] == ["traced model", "ground truth"]
    traced = data["datasets"][0]
    assert traced["n"] == 5 and traced["counts"] == {"Pt": 3, "Ni": 2}
    xyz = np.reshape(traced["xyz"], (-1, 3)) * data["quantum"]
    pos = case["model"].positions
    centre = (np.concatenate([pos, pos + 0.1]).min(0) + np.concatenate([pos, pos + 0.1]).max(0)) / 2
    assert np.allclose(xyz, pos - centre, atol=data["quantum"])
    assert traced["s"] == [0, 1, 0, 1, 0]
    assert data["span"] > np.linalg.norm(pos - centre, axis=1).max()


def test_viewer_subsamples_large_models_but_keeps_exact_counts(tmp_path: Path, monkeypatch) -> None:
    limit = 40
    monkeypatch.setattr(report_module, "MAX_3D_POINTS", limit)
    case = _case() | {"augmented": None, "calculated": None, "r1_per_projection": None, "truth": None}
    n = limit + 25
    pos = np.random.default_rng(1).uniform(-5, 5, (n, 3))
    case["model"] = AtomicModel(pos, ["Pt"] * (n - 7) + ["Ni"] * 7)
    text = write_report(tmp_path / "report.html", **case).read_text(encoding="utf-8")
    (traced,) = _atoms_json(text)["datasets"]
    assert traced["n"] == n and traced["counts"] == {"Pt": n - 7, "Ni": 7}
    assert len(traced["s"]) == limit and len(traced["xyz"]) == 3 * limit
    assert f"at most {limit} atoms per model are drawn" in text
    assert f"Pt {n - 7}" in text  # the card counts every atom


def test_report_optional_sections(tmp_path: Path) -> None:
    case = _case() | {"augmented": None, "calculated": None, "r1_per_projection": None, "truth": None}
    case["summary"] = replace(case["summary"], comparison=None, comparison_traced=None)
    text = write_report(tmp_path / "report.html", **case).read_text(encoding="utf-8")
    assert _n_png(text) == 2  # slices and the 3-D model's static stand-in only
    assert "Atom counts: traced vs ground truth" not in text
    assert "Recall" not in text and 'id="aet-dataset"' not in text
    assert [d["name"] for d in _atoms_json(text)["datasets"]] == ["traced model"]


def test_report_with_an_empty_summary_and_no_atoms(tmp_path: Path) -> None:
    case = _case() | {"summary": None, "model": AtomicModel(np.zeros((0, 3)), []), "truth": None, "calculated": None}
    text = write_report(tmp_path / "report.html", **case).read_text(encoding="utf-8")
    assert "The summary is empty." in text and '<canvas id="aet-viewer"' in text
    assert _atoms_json(text)["datasets"][0]["n"] == 0


def test_console_and_viewer_checks() -> None:
    log = (
        "[1:1:1128/005635.5:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n"
        '[1:1:1128/005635.9:INFO:CONSOLE:2] "hello error", source: file:///r.html (2)\n'
        '[1:1:1128/005635.9:INFO:CONSOLE:5] "Uncaught Error: boom", source: file:///r.html (5)\n'
    )
    assert len(_console_errors(log)) == 2  # any console message counts; Chromium's own ERROR lines do not
    ready = '<body data-viewer="ready"><pre id="aet-errors" hidden=""></pre></body>'
    assert _viewer_problems(ready) == []
    assert "did not report ready" in _viewer_problems('<body><pre id="aet-errors" hidden=""></pre></body>')[0]
    failed = '<body data-viewer="ready"><pre id="aet-errors">The view failed:\nerror: x &lt; y</pre></body>'
    assert _viewer_problems(failed) == ["the page recorded JavaScript errors: The view failed: | error: x < y"]


def test_report_renders_in_chromium(full_report: tuple[Path, str, dict], tmp_path: Path) -> None:
    """The page renders in headless Debian Chromium and the interactive 3-D view loads without console errors.

    Not skipped when Chromium is missing: CI (``.ci/run``) installs it, and a missing browser is a failure.
    """
    from aet.pipeline.browser import check_report

    if find_chromium() is None:
        pytest.fail(
            "Chromium is not installed, so the report's browser check cannot run; install Debian's chromium "
            "(`apt-get install -y chromium`, as .ci/run does) and run the tests again."
        )
    shot = tmp_path / "shot.png"
    assert check_report(full_report[0], screenshot=shot) == []  # includes: data-viewer="ready", no errors, no console
    assert shot.is_file()


def test_chromium_check_catches_a_broken_viewer(full_report: tuple[Path, str, dict], tmp_path: Path) -> None:
    """The check is not vacuous: a viewer that throws is reported (from the DOM and from the console)."""
    from aet.pipeline.browser import check_report

    if find_chromium() is None:
        pytest.fail("Chromium is not installed; install Debian's chromium (`apt-get install -y chromium`).")
    broken = full_report[1].replace('"use strict";\n  var data', '"use strict";\n  null.boom();\n  var data', 1)
    assert broken != full_report[1]
    report = tmp_path / "report.html"
    report.write_text(broken, encoding="utf-8")
    problems = check_report(report)
    assert any("did not report ready" in p for p in problems), problems
    assert any("recorded JavaScript errors" in p for p in problems), problems
    assert any("console error" in p and "Uncaught" in p for p in problems), problems
