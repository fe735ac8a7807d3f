"""A self-contained, offline HTML report of an ``aet run``: key figures, slices, model, R1 and projections.

The first screen is what a microscopist reads at a glance: the key figures as cards (with units, and the goals of
the pipeline where there are any), the central slices and an interactive 3-D view of the atoms. Below come R1 per
projection and the projections; the whole run summary (``summary.json``) is folded away at the end.

Figures are matplotlib PNGs embedded as base64 ``data:`` URIs, drawn on the Agg canvas without touching pyplot's
global state. The 3-D view is a small hand-written viewer (inline JavaScript drawing on a ``<canvas>``, no library,
no network) fed by the atom positions embedded as JSON; a static matplotlib picture of the model stands in for it
until it has drawn, and stays when JavaScript is off. The viewer never writes to the console: it marks
``<body data-viewer="ready">`` once it has drawn and an error hook writes any uncaught error into
``<pre id="aet-errors">``, which is what :func:`aet.pipeline.browser.check_report` reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aet.analysis.analyse import Analysis
from aet.io.atomic import atomic_paths
from aet.model import AtomicModel, TiltSeries, Volume
from aet.pipeline.summary import RunSummary

#: Atoms within this distance (Å) of a slice plane are drawn on that slice.
SLICE_HALF_WIDTH_A = 1.0
#: Resolution of the embedded PNGs.
DPI = 90
#: At most this many atoms per model are drawn in the 3-D views (a random subset beyond that; counts stay exact).
MAX_3D_POINTS = 20000
#: Goals of the pipeline issue, shown on the key-figure cards (docs/benchmarks.md, "Pipeline").
RECALL_GOAL = 0.98
RMSD_GOAL_PM = 20.0
TIME_GOAL_S = 300.0
#: Atoms are drawn in the interactive view as spheres of this fraction of their covalent radius.
ATOM_RADIUS_FRACTION = 0.6
#: Positions in the embedded JSON are integers in units of this many Å.
POSITION_QUANTUM_A = 0.01

_NESTED_SECTIONS = (
    ("atoms", "Atoms per species", ""),
    ("r1", "R-factors (R1)", ""),
    ("refinement", "R1 before and after refinement", ""),
    ("tilt_series", "Tilt series", ""),
    ("timings_s", "Timings", " s"),
    ("comparison", "Comparison with the ground truth", ""),
    ("comparison_traced", "Comparison with the ground truth, traced model before refinement", ""),
    ("versions", "Versions", ""),
)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 0.8em 1.5em 2em;
  max-width: 1400px; color: #222; }
header h1 { margin: 0; font-size: 1.5em; }
header p.meta { margin: 0.15em 0 0.7em; color: #555; font-size: 0.9em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; font-size: 1.25em; }
.tables { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 0.6em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.45em 0.7em; background: #fafafa; }
.card .label { font-size: 0.8em; color: #555; }
.card .value { font-size: 1.45em; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.card .sub { font-size: 0.8em; color: #444; }
.met { color: #1a7f37; font-weight: 600; }
.missed { color: #b42318; font-weight: 600; }
.dot { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 50%; margin-right: 0.25em;
  vertical-align: baseline; }
.overview { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.2em; align-items: start;
  margin-top: 0.9em; }
@media (max-width: 1000px) { .overview { grid-template-columns: minmax(0, 1fr); } }
.overview figure { margin: 0; }
table { border-collapse: collapse; margin: 0.5em 1.5em 0.8em 0; display: inline-table; vertical-align: top; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #444; margin-top: 0.3em; }
p.note { color: #8a5a00; }
.viewer .controls { display: flex; gap: 0.6em; align-items: center; flex-wrap: wrap; font-size: 0.88em;
  margin-bottom: 0.3em; }
.viewer .hint { color: #666; }
.viewer canvas { display: block; width: 100%; height: min(500px, 75vh); border: 1px solid #ddd; border-radius: 4px;
  background: #fff; cursor: grab; touch-action: none; }
.viewer canvas:active { cursor: grabbing; }
.viewer ul.legend { list-style: none; padding: 0; margin: 0.35em 0 0; display: flex; flex-wrap: wrap;
  gap: 0.3em 1em; font-size: 0.9em; }
pre#aet-errors { color: #b42318; background: #fff4f2; border: 1px solid #f3b8ae; padding: 0.5em;
  white-space: pre-wrap; }
details { margin-top: 2em; border-top: 1px solid #ccc; padding-top: 0.6em; }
details > summary { cursor: pointer; font-weight: 600; font-size: 1.1em; }
"""

# Records uncaught errors (including a viewer that fails to parse) in <pre id="aet-errors">, where the page shows
# them and the headless check reads them. It returns nothing, so the browser still reports the error as usual.
_ERROR_HOOK_JS = """
(function () {
  "use strict";
  function record(text) {
    var out = document.getElementById("aet-errors");
    if (!out) { return; }
    if (!out.textContent) { out.textContent = "The interactive 3-D view failed:\\n"; }
    out.textContent += text + "\\n";
    out.hidden = false;
  }
  window.addEventListener("error", function (event) {
    record("error: " + (event.message || "unknown error") + (event.lineno ? " (line " + event.lineno + ")" : ""));
  });
  window.addEventListener("unhandledrejection", function (event) {
    record("unhandled rejection: " + String(event.reason));
  });
}());
"""

# The 3-D viewer: orthographic projection, depth-sorted shaded spheres (pre-rendered sprites per species and depth
# level), drag to rotate, wheel or +/- to zoom, arrow keys to rotate, Reset / double click / 0 to reset. It calls
# no console method: the headless check treats every console message as an error.
_VIEWER_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("aet-atoms").textContent);
  var panel = document.getElementById("aet-viewer-panel");
  var canvas = document.getElementById("aet-viewer");
  var legend = document.getElementById("aet-legend");
  var note = document.getElementById("aet-viewer-note");
  var choice = document.getElementById("aet-dataset");
  var resetButton = document.getElementById("aet-reset");
  var fallback = document.getElementById("aet-model-static");
  var SHADES = 10;
  var BACKGROUND = "#ffffff";
  var ANGSTROM = "\\u00c5";

  function matmul(a, b) {
    var out = [];
    for (var i = 0; i < 3; i++) {
      for (var j = 0; j < 3; j++) {
        out.push(a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j]);
      }
    }
    return out;
  }
  function rotX(t) { var c = Math.cos(t), s = Math.sin(t); return [1, 0, 0, 0, c, -s, 0, s, c]; }
  function rotY(t) { var c = Math.cos(t), s = Math.sin(t); return [c, 0, s, 0, 1, 0, -s, 0, c]; }
  function initialRotation() { return matmul(rotX(0.45), rotY(-0.6)); }

  function hexToRgb(hex) {
    var v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  function mix(rgb, target, f) {
    return [0, 1, 2].map(function (k) { return Math.round(rgb[k] + (target[k] - rgb[k]) * f); });
  }
  function css(rgb) { return "rgb(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + ")"; }

  var colours = data.colours.map(hexToRgb);
  var sets = data.datasets.map(function (d) {
    var n = d.s.length, xyz = new Float32Array(3 * n);
    for (var i = 0; i < 3 * n; i++) { xyz[i] = d.xyz[i] * data.quantum; }
    return { name: d.name, total: d.n, counts: d.counts, n: n, xyz: xyz, s: Uint16Array.from(d.s),
      sx: new Float32Array(n), sy: new Float32Array(n), sz: new Float32Array(n), order: new Uint32Array(n) };
  });
  var state = { rot: initialRotation(), zoom: 1, set: 0 };
  var ctx = canvas.getContext("2d");
  if (!ctx) { throw new Error("this browser gives no 2-D canvas context"); }
  var dpr = 1, sprites = {}, spriteScale = -1, pending = false;

  function sprite(species, shade, radius) {
    var key = species + ":" + shade;
    if (sprites[key]) { return sprites[key]; }
    var size = Math.ceil(2 * radius + 2), c = size / 2;
    var img = document.createElement("canvas");
    img.width = size;
    img.height = size;
    var g = img.getContext("2d");
    var depth = 0.55 * (1 - shade / (SHADES - 1));
    var base = mix(colours[species], [255, 255, 255], depth);
    var grad = g.createRadialGradient(c - 0.35 * radius, c - 0.35 * radius, 0.1 * radius, c, c, radius);
    grad.addColorStop(0, css(mix(base, [255, 255, 255], 0.65)));
    grad.addColorStop(0.45, css(base));
    grad.addColorStop(1, css(mix(base, [0, 0, 0], 0.45 * (1 - depth))));
    g.fillStyle = grad;
    g.beginPath();
    g.arc(c, c, radius, 0, 2 * Math.PI);
    g.fill();
    sprites[key] = img;
    return img;
  }

  function niceLength(maxLength) {
    var p = Math.pow(10, Math.floor(Math.log10(maxLength))), best = p;
    [1, 2, 5, 10].forEach(function (m) { if (m * p <= maxLength) { best = m * p; } });
    return best;
  }

  function draw() {
    var w = canvas.width, h = canvas.height, set = sets[state.set], r = state.rot;
    var scale = state.zoom * 0.5 * Math.min(w, h) / data.span;
    if (scale !== spriteScale) { sprites = {}; spriteScale = scale; }
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, w, h);
    var n = set.n, xyz = set.xyz;
    for (var i = 0; i < n; i++) {
      var x = xyz[3 * i], y = xyz[3 * i + 1], z = xyz[3 * i + 2];
      set.sx[i] = w / 2 + scale * (r[0] * x + r[1] * y + r[2] * z);
      set.sy[i] = h / 2 - scale * (r[3] * x + r[4] * y + r[5] * z);
      set.sz[i] = r[6] * x + r[7] * y + r[8] * z;
      set.order[i] = i;
    }
    var depth = set.sz;
    set.order.sort(function (a, b) { return depth[a] - depth[b]; });
    for (var k = 0; k < n; k++) {
      var j = set.order[k], sp = set.s[j];
      var radius = Math.max(1.5, data.radii[sp] * scale);
      var shade = Math.round((depth[j] / data.span + 1) / 2 * (SHADES - 1));
      shade = Math.min(SHADES - 1, Math.max(0, shade));
      ctx.drawImage(sprite(sp, shade, radius), set.sx[j] - radius - 1, set.sy[j] - radius - 1);
    }
    if (n === 0) {
      ctx.fillStyle = "#666";
      ctx.font = Math.round(14 * dpr) + "px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("no atoms", w / 2, h / 2);
    }
    drawAxes(r);
    drawScaleBar(scale, w, h);
  }

  function drawAxes(r) {
    var ox = 34 * dpr, oy = canvas.height - 34 * dpr, len = 24 * dpr;
    ctx.lineWidth = 1.5 * dpr;
    ctx.font = Math.round(12 * dpr) + "px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ["x", "y", "z"].forEach(function (name, k) {
      var dx = r[k], dy = -r[3 + k];
      ctx.strokeStyle = "#555";
      ctx.fillStyle = "#333";
      ctx.beginPath();
      ctx.moveTo(ox, oy);
      ctx.lineTo(ox + len * dx, oy + len * dy);
      ctx.stroke();
      ctx.fillText(name, ox + (len + 9 * dpr) * dx, oy + (len + 9 * dpr) * dy);
    });
  }

  function drawScaleBar(scale, w, h) {
    var length = niceLength(0.2 * w / scale), px = length * scale;
    var x1 = w - 16 * dpr, x0 = x1 - px, y = h - 18 * dpr;
    ctx.strokeStyle = "#333";
    ctx.fillStyle = "#333";
    ctx.lineWidth = 2 * dpr;
    ctx.beginPath();
    ctx.moveTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.font = Math.round(12 * dpr) + "px sans-serif";
    ctx.fillText(String(length) + " " + ANGSTROM, (x0 + x1) / 2, y - 4 * dpr);
  }

  function schedule() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }

  function resize() {
    var box = canvas.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(box.width * dpr));
    canvas.height = Math.max(1, Math.round(box.height * dpr));
    spriteScale = -1;
  }

  function showLegend() {
    var set = sets[state.set];
    while (legend.firstChild) { legend.removeChild(legend.firstChild); }
    data.species.forEach(function (name, k) {
      if (!(name in set.counts)) { return; }
      var item = document.createElement("li");
      var dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = data.colours[k];
      item.appendChild(dot);
      item.appendChild(document.createTextNode(name + " " + set.counts[name]));
      legend.appendChild(item);
    });
    note.textContent = set.n < set.total
      ? set.name + ": a random " + set.n + " of " + set.total + " atoms drawn"
      : set.name + ": " + set.total + " atoms";
  }

  function reset() {
    state.rot = initialRotation();
    state.zoom = 1;
    schedule();
  }

  var dragging = null;
  canvas.addEventListener("pointerdown", function (event) {
    dragging = { x: event.clientX, y: event.clientY };
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch (error) {
      // keep rotating without capture: the drag just ends when the pointer leaves the canvas
    }
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!dragging) { return; }
    var dx = event.clientX - dragging.x, dy = event.clientY - dragging.y;
    dragging = { x: event.clientX, y: event.clientY };
    state.rot = matmul(matmul(rotY(0.01 * dx), rotX(0.01 * dy)), state.rot);
    schedule();
  });
  function stop() { dragging = null; }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener("pointerleave", function (event) {
    if (!canvas.hasPointerCapture || !canvas.hasPointerCapture(event.pointerId)) { stop(); }
  });
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    state.zoom = Math.min(50, Math.max(0.1, state.zoom * Math.exp(-0.0015 * event.deltaY)));
    schedule();
  }, { passive: false });
  canvas.addEventListener("dblclick", reset);
  canvas.addEventListener("keydown", function (event) {
    var step = 0.087, turns = { ArrowLeft: rotY(-step), ArrowRight: rotY(step), ArrowUp: rotX(-step),
      ArrowDown: rotX(step) };
    if (turns[event.key]) {
      state.rot = matmul(turns[event.key], state.rot);
    } else if (event.key === "+" || event.key === "=") {
      state.zoom = Math.min(50, state.zoom * 1.2);
    } else if (event.key === "-") {
      state.zoom = Math.max(0.1, state.zoom / 1.2);
    } else if (event.key === "0") {
      reset();
      return;
    } else {
      return;
    }
    event.preventDefault();
    schedule();
  });
  resetButton.addEventListener("click", reset);
  if (choice) {
    choice.addEventListener("change", function () {
      state.set = Number(choice.value);
      showLegend();
      schedule();
    });
  }
  window.addEventListener("resize", function () { resize(); schedule(); });

  panel.hidden = false;
  try {
    resize();
    showLegend();
    draw();
  } catch (error) {
    panel.hidden = true;
    throw error;
  }
  if (fallback) { fallback.hidden = true; }
  canvas.setAttribute("data-ready", "true");
  document.body.setAttribute("data-viewer", "ready");
}());
"""


def write_report(
    path: Path,
    summary: RunSummary | None,
    tomogram: Volume,
    augmented: Volume | None,
    model: AtomicModel,
    tilt_series: TiltSeries,
    calculated: np.ndarray | None,
    r1_per_projection: list[float] | None,
    truth: AtomicModel | None = None,
    analysis: Analysis | None = None,
) -> Path:
    """Write the HTML report to ``path`` (atomically) and return ``path``.

    Args:
        path: the output file, conventionally ``report.html``.
        summary: the run's :class:`RunSummary` (or ``None``): the key figures come from it, and its JSON form
            (``summary.json``) is listed, folded away, at the end.
        tomogram: the reconstruction.
        augmented: the network-augmented tomogram, or ``None``.
        model: the traced (refined) atomic model, positions (x, y, z) in Å.
        tilt_series: the measured projections.
        calculated: projections calculated from the model, same shape as ``tilt_series.images``, or ``None``.
        r1_per_projection: R1 of each projection, or ``None``.
        truth: the ground-truth model, when known.
        analysis: the structure analysis of ``model`` (``aet analyse``), or ``None``.
    """
    path = Path(path)
    colours = _species_colours(model, truth)
    body: list[str] = [
        "<header>",
        "<h1>aet report</h1>",
        f'<p class="meta">{_meta_line(summary)}</p>',
        "</header>",
        _key_figures(summary, model, tilt_series, colours),
        '<div class="overview">',
        "<section>",
        _slices_section(tomogram, augmented, model, colours),
        "</section>",
        "<section>",
        _model_section(model, truth, colours),
        "</section>",
        "</div>",
    ]
    if truth is not None:
        body += ["<h2>Traced model and ground truth</h2>", _counts_table(model, truth)]
    if summary is not None and summary.adapt is not None:
        body += ["<h2>Network adaptation</h2>", _adapt_section(summary.adapt)]
    if summary is not None and summary.guard is not None:
        body += ["<h2>Network guard</h2>", _guard_section(summary.guard)]
    if r1_per_projection is not None:
        body += ["<h2>R1 per projection</h2>", _r1_section(tilt_series, r1_per_projection)]
    if "alignment" in tilt_series.metadata:
        body += ["<h2>Alignment</h2>", _alignment_section(tilt_series, tilt_series.metadata["alignment"])]
    if analysis is not None:
        body += ["<h2>Structure analysis</h2>", analysis_section(model, analysis)]
    if calculated is not None:
        body += ["<h2>Measured and calculated projections</h2>", _projection_section(tilt_series, calculated)]
    body += [
        "<details>",
        "<summary>All figures (summary.json)</summary>",
        _summary_html({} if summary is None else summary.to_dict()),
        "</details>",
        f'<script type="application/json" id="aet-atoms">{_script_json(_viewer_data(model, truth, colours))}</script>',
        f'<script id="aet-viewer-js">{_VIEWER_JS}</script>',
    ]
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>aet report</title>",
            f"<style>{_CSS}</style>",
            f'<script id="aet-error-hook">{_ERROR_HOOK_JS}</script>',
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
    with atomic_paths(path) as (tmp,):
        tmp.write_text(page, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------------------
# HTML helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` become ``\\u00XX``."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _format_value(value: Any, unit: str = "") -> str:
    """A short, human-readable rendering of a JSON-able value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value)}{unit}"
    if isinstance(value, float | np.floating):
        v = float(value)
        return f"{v:.4g}{unit}" if math.isfinite(v) else str(v)
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float | np.integer | np.floating)


def _table(title: str, rows: list[tuple[Any, Any]], unit: str = "") -> str:
    """Key–value table; nested dicts become nested tables and lists of numbers a short comma list."""
    cells = []
    for key, value in rows:
        cls = ' class="num"' if isinstance(value, int | float | np.integer | np.floating) else ""
        if isinstance(value, dict) and value:
            content = _table("", list(value.items()), unit)
        elif isinstance(value, list | tuple) and value and all(_is_scalar(v) for v in value):
            content = _esc(", ".join(_format_value(v) for v in value))
        else:
            content = _esc(_format_value(value, unit))
        cells.append(f"<tr><th>{_esc(key)}</th><td{cls}>{content}</td></tr>")
    caption = f"<caption>{_esc(title)}</caption>" if title else ""
    return f"<table>{caption}{''.join(cells)}</table>"


def _summary_html(summary: dict) -> str:
    """Top-level scalars in one table; each known nested dict (then any other one) in its own table."""
    parts = []
    scalars = [(k, v) for k, v in summary.items() if _is_scalar(v)]
    if scalars:
        parts.append(_table("Run", scalars))
    known = set()
    for key, title, unit in _NESTED_SECTIONS:
        known.add(key)
        value = summary.get(key)
        if isinstance(value, dict) and value:
            parts.append(_table(title, list(value.items()), unit))
    for key, value in summary.items():
        if key in known or _is_scalar(value):
            continue
        if isinstance(value, dict):
            parts.append(_table(str(key), list(value.items())))
        else:
            parts.append(_table(str(key), [("value", value)]))
    if not parts:
        return '<p class="note">The summary is empty.</p>'
    return "<div>" + "\n".join(parts) + "</div>"


def _png(fig: Figure, alt: str, attrs: str = "") -> str:
    """Render ``fig`` to an ``<img>`` holding an embedded PNG, with ``alt`` text and extra ``attrs``."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img{attrs} src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _figure_html(fig: Figure, alt: str, caption: str) -> str:
    """Render ``fig`` to an embedded PNG inside a ``<figure>`` with ``alt`` text and a caption."""
    return f"<figure>{_png(fig, alt)}<figcaption>{_esc(caption)}</figcaption></figure>"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


# --------------------------------------------------------------------------------------------------------------
# First screen: a line about the run and the key figures


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _meta_line(summary: RunSummary | None) -> str:
    parts = [f"Written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}"]
    if summary is not None:
        parts += [f"aet {summary.versions.get('aet', '?')}", f"seed {summary.seed}"]
        if summary.skipped_stages:
            parts.append("reused from an earlier run: " + ", ".join(summary.skipped_stages))
    return _esc(" · ".join(parts))


def _card(label: str, value: str, sub: str = "") -> str:
    """A key-figure card; ``label`` and ``value`` are escaped here, ``sub`` is HTML (escape its parts)."""
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return (
        f'<div class="card"><div class="label">{_esc(label)}</div>'
        f'<div class="value">{_esc(value)}</div>{sub_html}</div>'
    )


def _goal(text: str, met: bool) -> str:
    mark = '<span class="met">✓ met</span>' if met else '<span class="missed">✗ missed</span>'
    return f"{_esc(text)} {mark}"


def _swatch(colour: Any) -> str:
    from matplotlib.colors import to_hex

    return f'<span class="dot" style="background:{to_hex(colour)}"></span>'


def _signed_deg(value: float) -> str:
    return f"{value:+.1f}°".replace("-", "−")


def _key_figures(summary: RunSummary | None, model: AtomicModel, tilt_series: TiltSeries, colours: dict) -> str:
    """The cards of the first screen: atoms, R1, recall / precision / RMSD (with a ground truth), time, geometry."""
    cards = []
    counts = " · ".join(f"{_swatch(colours[s])}{_esc(s)} {model.elements.count(s):,}" for s in model.species)
    cards.append(_card("Atoms", f"{len(model):,}", counts))

    if summary is not None and summary.refinement_r1 is not None:
        before, after = summary.refinement_r1
        sub = _esc(f"before {before:.3f}")
        if (free := summary.refinement_free) is not None:
            sub += "<br>" + _esc(f"R_free {free['R_free_before']:.3f} → {free['R_free_after']:.3f} "
                                 f"({len(free['free_images'])} held-out projections)")  # fmt: skip
        cards.append(_card("R1 after refinement", f"{after:.3f}", sub))
    elif summary is not None:
        cards.append(_card("R1", f"{summary.rfactors.R1:.3f}", "of the calculated projections"))

    if summary is not None and (c := summary.comparison) is not None:
        cards.append(_card("Recall", f"{c.recall:.3f}", _goal(f"goal ≥ {RECALL_GOAL:g}", c.recall >= RECALL_GOAL)))
        cards.append(_card("Precision", f"{c.precision:.3f}", _esc(f"{c.n_matched:,} of {c.n_model:,} matched")))
        if (rmsd := _number(c.rmsd_pm)) is not None:
            sub = _goal(f"goal ≤ {RMSD_GOAL_PM:g} pm", rmsd <= RMSD_GOAL_PM)
            traced = summary.comparison_traced
            if traced is not None and (traced_rmsd := _number(traced.rmsd_pm)) is not None:
                sub += "<br>" + _esc(f"before refinement {traced_rmsd:.1f} pm")
            cards.append(_card("RMSD to the truth", f"{rmsd:.1f} pm", sub))

    if summary is not None:
        total = summary.total_s
        shown = f"{total:.1f} s" if total < 10 else f"{total:.0f} s"
        cards.append(_card("Total time", shown, _goal(f"goal < {TIME_GOAL_S / 60:g} min", total < TIME_GOAL_S)))

    ny, nx = tilt_series.images.shape[1:]
    cards.append(_card("Pixel size", f"{tilt_series.pixel_size:.3g} Å", _esc(f"{nx} × {ny} px")))
    theta = tilt_series.tilt_angles
    tilt = f"tilt {_signed_deg(float(theta.min()))} to {_signed_deg(float(theta.max()))}" if theta.size else ""
    cards.append(_card("Projections", f"{tilt_series.n_images} images", _esc(tilt)))
    return '<div class="cards">' + "".join(cards) + "</div>"


# --------------------------------------------------------------------------------------------------------------
# Figures


def _species_colours(model: AtomicModel, truth: AtomicModel | None) -> dict[str, Any]:
    from matplotlib import colormaps

    species = list(dict.fromkeys(model.species + (truth.species if truth is not None else [])))
    cmap = colormaps["tab10"]
    return {s: cmap(i % 10) for i, s in enumerate(species)}


def _slice_planes(volume: Volume) -> list[tuple[str, np.ndarray, tuple[float, ...], int, tuple[int, int]]]:
    """(name, 2-D image, extent in Å, normal axis in xyz, (horizontal, vertical) axes in xyz) per central slice."""
    data = volume.data
    nz, ny, nx = data.shape
    vs = volume.voxel_size
    oz, oy, ox = volume.origin

    def span(o: float, n: int) -> tuple[float, float]:
        return o - vs / 2, o + (n - 0.5) * vs

    xs, ys, zs = span(ox, nx), span(oy, ny), span(oz, nz)
    return [
        ("xy", data[nz // 2, :, :], (*xs, *ys), 2, (0, 1)),
        ("xz", data[:, ny // 2, :], (*xs, *zs), 1, (0, 2)),
        ("yz", data[:, :, nx // 2], (*ys, *zs), 0, (1, 2)),
    ]


def _plane_position(volume: Volume, axis_xyz: int) -> float:
    """Å coordinate of the central slice normal to x (0), y (1) or z (2)."""
    n = volume.data.shape[2 - axis_xyz]
    return volume.origin[2 - axis_xyz] + (n // 2) * volume.voxel_size


def _slices_section(tomogram: Volume, augmented: Volume | None, model: AtomicModel, colours: dict) -> str:
    volumes = [("tomogram", tomogram)] + ([("augmented", augmented)] if augmented is not None else [])
    fig = Figure(figsize=(13, 3.9 * len(volumes)), layout="constrained")
    axes = fig.subplots(len(volumes), 3, squeeze=False)
    elements = np.asarray(model.elements)
    pos = model.positions
    for row, (label, vol) in enumerate(volumes):
        for col, (name, img, extent, normal, (h, v)) in enumerate(_slice_planes(vol)):
            ax = axes[row, col]
            im = ax.imshow(img, cmap="gray", origin="lower", extent=extent, interpolation="nearest")
            plane = _plane_position(vol, normal)
            near = np.abs(pos[:, normal] - plane) <= SLICE_HALF_WIDTH_A
            for sp, colour in colours.items():
                sel = near & (elements == sp)
                if np.any(sel):
                    ax.scatter(
                        pos[sel, h], pos[sel, v], s=28, facecolors="none", edgecolors=[colour], linewidths=1.2, label=sp
                    )
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            axis_names = "xyz"
            ax.set_xlabel(f"{axis_names[h]} (Å)")
            ax.set_ylabel(f"{axis_names[v]} (Å)")
            ax.set_title(f"{label}: {name} slice at {axis_names[normal]} = {plane:.1f} Å")
            fig.colorbar(im, ax=ax, shrink=0.8, label="intensity (a.u.)")
            if np.any(near):
                ax.legend(loc="upper right", fontsize=8, framealpha=0.7)
    rows = "the tomogram (top) and the augmented tomogram (bottom)" if augmented is not None else "the tomogram"
    caption = (
        f"Central xy, xz and yz slices through {rows}, axes in Å and grey levels in arbitrary intensity units; "
        f"circles mark traced atoms within ±{SLICE_HALF_WIDTH_A:g} Å of each plane, coloured by species."
    )
    return _figure_html(fig, alt=f"Central slices of {rows} with traced atoms overlaid", caption=caption)


def _model_section(model: AtomicModel, truth: AtomicModel | None, colours: dict) -> str:
    """The interactive 3-D view (filled in by the viewer script) over the static picture that stands in for it."""
    what = "the traced model" + (" or the ground truth" if truth is not None else "")
    choice = ""
    if truth is not None:
        choice = (
            '<label>show <select id="aet-dataset"><option value="0">traced model</option>'
            '<option value="1">ground truth</option></select></label>'
        )
    subsampled = max(len(model), len(truth) if truth is not None else 0) > MAX_3D_POINTS
    limit = f"; at most {MAX_3D_POINTS} atoms per model are drawn (a random subset; counts stay exact)"
    caption = (
        f"3-D view of {what}, one sphere per atom coloured by species (axes and scale bar in Å): drag to rotate, "
        "wheel or +/− to zoom, arrow keys to turn, Reset view or a double click to start again. Without JavaScript "
        f"a static picture is shown instead{limit if subsampled else ''}."
    )
    static = _png(
        _model_figure(model, truth, colours),
        alt=f"3-D scatter plot of {what.replace(' or ', ' and ')}, coloured by species",
        attrs=' id="aet-model-static"',
    )
    return (
        '<figure class="model">'
        '<div id="aet-viewer-panel" class="viewer" hidden>'
        f'<div class="controls">{choice}<button id="aet-reset" type="button">Reset view</button>'
        '<span id="aet-viewer-note" class="hint"></span></div>'
        '<canvas id="aet-viewer" tabindex="0" aria-label="Interactive 3-D view of the atoms, coloured by species">'
        "</canvas>"
        '<ul id="aet-legend" class="legend"></ul>'
        "</div>"
        '<pre id="aet-errors" hidden></pre>'
        f"{static}<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _viewer_data(model: AtomicModel, truth: AtomicModel | None, colours: dict) -> dict[str, Any]:
    """What the viewer draws: species, colours and radii (Å), and per model the exact counts and the positions
    (at most :data:`MAX_3D_POINTS` atoms, centred, integers in units of :data:`POSITION_QUANTUM_A`)."""
    from ase.data import atomic_numbers, covalent_radii
    from matplotlib.colors import to_hex

    species = list(colours)
    radii = [ATOM_RADIUS_FRACTION * float(covalent_radii[atomic_numbers.get(s, 0)] or 1.0) for s in species]
    panels = [("traced model", model)] + ([("ground truth", truth)] if truth is not None else [])
    allpos = np.concatenate([m.positions for _, m in panels])
    centre = (allpos.min(axis=0) + allpos.max(axis=0)) / 2 if len(allpos) else np.zeros(3)
    reach = float(np.linalg.norm(allpos - centre, axis=1).max()) if len(allpos) else 0.0
    datasets = []
    for name, m in panels:
        idx = np.arange(len(m))
        if len(m) > MAX_3D_POINTS:
            idx = np.sort(np.random.default_rng(0).choice(len(m), MAX_3D_POINTS, replace=False))
        xyz = np.rint((m.positions[idx] - centre) / POSITION_QUANTUM_A).astype(np.int64)
        code = {s: k for k, s in enumerate(species)}
        datasets.append(
            {
                "name": name,
                "n": len(m),
                "counts": {s: m.elements.count(s) for s in m.species},
                "xyz": xyz.reshape(-1).tolist(),
                "s": [code[m.elements[i]] for i in idx],
            }
        )
    return {
        "units": "Å",
        "quantum": POSITION_QUANTUM_A,
        "species": species,
        "colours": [to_hex(colours[s]) for s in species],
        "radii": [round(r, 3) for r in radii],
        "span": round(reach + max(radii, default=1.0) + 0.5, 3),
        "datasets": datasets,
    }


def _model_figure(model: AtomicModel, truth: AtomicModel | None, colours: dict) -> Figure:
    """Static matplotlib 3-D scatter of the traced model (and the ground truth), the viewer's stand-in."""
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)

    panels = [("traced model", model)] + ([("ground truth", truth)] if truth is not None else [])
    fig = Figure(figsize=(5.5 * len(panels), 5.5), layout="constrained")
    allpos = np.concatenate([m.positions for _, m in panels])
    for i, (label, m) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        els_arr = np.asarray(m.elements)
        shown = np.ones(len(m), dtype=bool)
        if len(m) > MAX_3D_POINTS:
            shown[:] = False
            shown[np.random.default_rng(0).choice(len(m), MAX_3D_POINTS, replace=False)] = True
        for sp in m.species:
            sel = els_arr == sp
            ax.scatter(
                *m.positions[sel & shown].T, s=14, color=colours[sp], depthshade=True, label=f"{sp} ({int(sel.sum())})"
            )
        if len(allpos):
            lo, hi = allpos.min(axis=0) - 1.0, allpos.max(axis=0) + 1.0  # 1 Å margin; never a zero-width axis
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_zlim(lo[2], hi[2])
            ax.set_box_aspect(hi - lo)
        if len(m):
            ax.legend(loc="upper left", fontsize=9, title=f"{len(m)} atoms")
        else:
            ax.text2D(0.5, 0.5, "no atoms", transform=ax.transAxes, ha="center")
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        ax.set_zlabel("z (Å)")
        ax.set_title(label)
    return fig


def _counts_table(model: AtomicModel, truth: AtomicModel) -> str:
    species = list(dict.fromkeys(model.species + truth.species))
    traced = {s: model.elements.count(s) for s in species}
    true = {s: truth.elements.count(s) for s in species}
    rows = "".join(
        f'<tr><th>{_esc(s)}</th><td class="num">{traced[s]}</td><td class="num">{true[s]}</td>'
        f'<td class="num">{traced[s] - true[s]:+d}</td></tr>'
        for s in species
    )
    return (
        "<table><caption>Atom counts: traced vs ground truth</caption>"
        "<tr><th>species</th><th>traced</th><th>truth</th><th>difference</th></tr>"
        f"{rows}</table>"
    )


def _r1_section(tilt_series: TiltSeries, r1: list[float]) -> str:
    values = np.asarray(r1, dtype=np.float64).reshape(-1)
    theta = tilt_series.angles[:, 1]
    if values.size != theta.size:
        return _note(f"{values.size} R1 values were given for {theta.size} projections; the plot is skipped.")
    order = np.argsort(theta, kind="stable")
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.plot(theta[order], values[order], "o-", ms=4, lw=1)
    finite = values[np.isfinite(values)]
    if finite.size:
        ax.axhline(float(finite.mean()), color="grey", ls="--", lw=1, label=f"mean {finite.mean():.4g}")
        ax.legend(loc="best", fontsize=9)
    ax.set_xlabel("tilt angle θ (°)")
    ax.set_ylabel("R1 (dimensionless)")
    ax.grid(alpha=0.3)
    return _figure_html(
        fig,
        alt="R1 per projection against the tilt angle",
        caption="R1 of each projection (dimensionless, lower is better) against the tilt angle θ in degrees; "
        "the dashed line is the mean.",
    )


def _guard_section(guard: dict[str, Any]) -> str:
    """What the guard decided (:mod:`aet.pipeline.guard`), in words and figures."""
    from aet.pipeline.guard import GuardReport

    g = GuardReport.from_dict(guard)
    words = g.sentence()
    rows = [("trace kept", g.decision), (f"{g.measure}, network's trace", g.fit_network or "no atoms"),
            (f"{g.measure}, tomogram's trace", g.fit_tomogram or "no atoms"),
            ("atoms in the network's trace", g.atoms_network),
            ("atoms in the tomogram's trace", g.atoms_tomogram),
            ("atoms the images do not support (dropped)", g.dropped),
            ("atoms the difference map calls for (added)", g.added), ("atoms refined", g.atoms)]  # fmt: skip
    return f"<p>{_esc(words[0].upper() + words[1:])}.</p>" + _table("", rows)


def _adapt_section(adapt: dict[str, Any]) -> str:
    """How the network was fine-tuned on this series (:mod:`aet.nn.adapt`)."""
    words = (f"{adapt['base_model']} was fine-tuned on this series' own projections ({adapt['method']}) for "
             f"{adapt['steps']} steps in {adapt['seconds']:.0f} s, and its weights from step {adapt['best_step']} were "
             "kept: those that predict the held-out projections best. No ground truth takes part.")  # fmt: skip
    rows = [("held-out misfit before", f"{adapt['check_before']:.4f}"),
            ("held-out misfit kept", f"{adapt['check_best']:.4f}"),
            ("extra blur of the measured atoms", f"{adapt['sigma_A']:.2f} Å"),
            ("adapted weights", adapt["weights"])]  # fmt: skip
    return f"<p>{_esc(words)}</p>" + _table("", rows)


def _alignment_section(tilt_series: TiltSeries, alignment: dict[str, Any]) -> str:
    """What the alignment found: the axis in words, the per-image shifts against θ."""
    done = "images turned and shifted once (cubic spline)." if alignment.get("applied") else "images left as measured."
    words = (f"Tilt axis {alignment['tilt_axis']:.2f}° counter-clockwise from the image rows "
             f"({alignment['axis_source']}); {done}")  # fmt: skip
    notes = "".join(_note(str(n)) for n in alignment.get("notes", []))
    shifts = np.asarray(alignment.get("shifts", []), dtype=np.float64).reshape(-1, 2)
    theta = tilt_series.angles[:, 1]
    if shifts.shape[0] != theta.size or not np.any(shifts):
        return f"<p>{_esc(words)}</p>{notes}"
    order = np.argsort(theta, kind="stable")
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(theta[order], shifts[order, 0], "o-", ms=3, lw=1, label="along the axis (rows)")
    ax.plot(theta[order], shifts[order, 1], "s-", ms=3, lw=1, label="across the axis (columns)")
    ax.set_xlabel("tilt angle θ (°)")
    ax.set_ylabel("shift (Å)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    caption = ("Shift of each image found by the alignment, in Å, in the aligned frame (rows along the tilt axis); "
               "what only moves the whole object is left out.")  # fmt: skip
    return f"<p>{_esc(words)}</p>{notes}" + _figure_html(fig, alt="Image shifts against the tilt angle",
                                                          caption=caption)  # fmt: skip


def _pick_projections(theta: np.ndarray, k: int = 4) -> list[int]:
    """Indices of up to ``k`` projections: the lowest and highest θ, the one nearest 0° and a middle one."""
    order = np.argsort(theta, kind="stable")
    n = theta.size
    candidates = [int(order[0]), int(order[-1]), int(np.argmin(np.abs(theta))), int(order[(3 * n) // 4])]
    candidates += [int(order[n // 4]), int(order[n // 2])] + [int(i) for i in order]
    picked = list(dict.fromkeys(candidates))[: min(k, n)]
    return sorted(picked, key=lambda i: (theta[i], i))


def _projection_section(tilt_series: TiltSeries, calculated: np.ndarray) -> str:
    measured = tilt_series.images
    calc = np.asarray(calculated, dtype=np.float32)
    if calc.shape != measured.shape:
        return _note(
            f"the calculated projections have shape {calc.shape} but the measured ones {measured.shape}; "
            "the comparison is skipped."
        )
    if measured.shape[0] == 0:
        return _note("the tilt series has no images.")
    idx = _pick_projections(tilt_series.angles[:, 1])
    rows_, cols_ = measured.shape[1:]
    ps = tilt_series.pixel_size
    extent = (-cols_ * ps / 2, cols_ * ps / 2, -rows_ * ps / 2, rows_ * ps / 2)
    fig = Figure(figsize=(3.4 * len(idx) + 1.2, 9.5), layout="constrained")
    axes = fig.subplots(3, len(idx), squeeze=False)
    for j, i in enumerate(idx):
        m, c = measured[i], calc[i]
        d = m - c
        lo, hi = float(min(m.min(), c.min())), float(max(m.max(), c.max()))
        lim = float(np.abs(d).max()) or 1.0
        theta = tilt_series.angles[i, 1]
        for r, (img, name, kw) in enumerate(
            [
                (m, "measured", {"cmap": "gray", "vmin": lo, "vmax": hi}),
                (c, "calculated", {"cmap": "gray", "vmin": lo, "vmax": hi}),
                (d, "measured − calculated", {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}),
            ]
        ):
            ax = axes[r, j]
            im = ax.imshow(img, origin="upper", extent=extent, interpolation="nearest", **kw)
            ax.set_title(f"{name}\nθ = {theta:.1f}° (image {i})", fontsize=9)
            ax.set_xlabel("x (Å)", fontsize=8)
            ax.set_ylabel("y (Å)", fontsize=8)
            ax.tick_params(labelsize=7)
            fig.colorbar(im, ax=ax, shrink=0.8)
    angles = ", ".join(f"{tilt_series.angles[i, 1]:.1f}°" for i in idx)
    return _figure_html(
        fig,
        alt=f"Measured, calculated and difference projections at θ = {angles}",
        caption=f"Measured (top), calculated (middle) and difference (bottom) projections at θ = {angles}; "
        "axes in Å, intensities in the units of the tilt series.",
    )


# --------------------------------------------------------------------------------------------------------------
# Structure analysis (aet analyse)


def analysis_section(model: AtomicModel, analysis: Analysis) -> str:
    """What the atoms say: structure types, facets, grains and strain maps, RDF, chemical order, q6."""
    s = analysis.summary
    parts = [_note(n) for n in analysis.notes]
    counts = s["structure"]["counts"]
    rows: list[tuple[Any, Any]] = [(k, v) for k, v in counts.items() if v]
    rows += [("twin-plane atoms", s["structure"]["twin_atoms"]),
             ("stacking-fault atoms", s["structure"]["stacking_fault_atoms"]),
             ("mean coordination", s["neighbours"]["mean_coordination"]),
             ("first RDF peak (Å)", s["neighbours"]["rdf"]["first_peak_A"])]  # fmt: skip
    tables = [_table("Local structure (adaptive CNA)", rows)]
    facets = s.get("facets")
    if facets:
        tables.append(_table("Facets: area (Å²) and surface atoms", [
            (fam, f"{area:.0f} Å² ({facets['area_fractions'][fam]:.0%})") for fam, area in facets["areas_A2"].items()
        ] + [(f"{k} atoms", v) for k, v in facets["surface_atoms"].items()]))  # fmt: skip
    if s.get("grains"):
        tables.append(_table("Grains", [
            (f"grain {g['grain']}", f"{g['structure']}, {g['atoms']} atoms, a = {g['lattice_constant_A']:.3f} Å, "
                                    f"misfit {g['rms_misfit_A'] * 100:.1f} pm") for g in s["grains"][:8]]))  # fmt: skip
    chem = s.get("chemistry")
    if chem:
        crow: list[tuple[Any, Any]] = [(f"α {pair}", [round(v, 3) for v in vals])
                                       for pair, vals in chem["warren_cowley"].items()]  # fmt: skip
        if "l10_order" in chem:
            crow.append(("L1₀ order S", chem["l10_order"]["S"]))
        tables.append(_table("Chemical order (Warren–Cowley α per shell)", crow))
    order = s["order"]
    tables.append(_table("Bond-orientational and Voronoi order", [
        ("mean q4", order["q4_mean"]), ("mean q6", order["q6_mean"]),
        ("Voronoi-indexed atoms", order["voronoi_atoms"]), ("⟨0,0,12,0⟩ fraction", order["icosahedral_fraction"])]))
    parts.append('<div class="tables">' + "".join(tables) + "</div>")

    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax_rdf, ax_q = fig.subplots(1, 2)
    rdf = s["neighbours"]["rdf"]
    ax_rdf.plot(rdf["r_A"], rdf["g"], lw=1.2)
    ax_rdf.set_xlabel("r (Å)")
    ax_rdf.set_ylabel("g(r)")
    ax_rdf.grid(alpha=0.3)
    for key in ("q4", "q6"):
        hist = order[f"{key}_histogram"]
        edges = np.asarray(hist["edges"])
        ax_q.step(edges[:-1], hist["counts"], where="post", label=key)
    ax_q.set_xlabel("Steinhardt q")
    ax_q.set_ylabel("atoms")
    ax_q.legend(fontsize=9)
    parts.append(_figure_html(fig, "Radial distribution function and q4/q6 histograms",
                              "Left: g(r) of the whole particle (normalised by its own density; it falls off at large "
                              "r because the particle is finite). Right: distributions of the per-atom Steinhardt q4 "
                              "and q6 over first-shell neighbours."))  # fmt: skip
    facet = analysis.per_atom.get("facet")
    if facet is not None and "facets" in s:
        parts.append(_facet_figure(model, np.asarray(facet).astype(str)))
    strain = analysis.per_atom.get("strain_crystal")
    if strain is not None and np.isfinite(strain).any():
        eps = np.asarray(strain).reshape(-1, 3, 3)
        pos = model.positions
        centre = np.median(pos[:, 2])
        near = (np.abs(pos[:, 2] - centre) < 1.5) & np.isfinite(eps[:, 0, 0])
        fig = Figure(figsize=(10, 3.4), layout="constrained")
        axes = fig.subplots(1, 3)
        lim = max(float(np.nanpercentile(np.abs(eps[:, [0, 1, 2], [0, 1, 2]]), 98)) * 100, 0.1)
        for k, (ax, name) in enumerate(zip(axes, ("ε[100]", "ε[010]", "ε[001]"), strict=True)):
            sc = ax.scatter(pos[near, 0], pos[near, 1], c=eps[near, k, k] * 100, cmap="RdBu_r", vmin=-lim, vmax=lim,
                            s=14, edgecolors="0.6", linewidths=0.3)  # fmt: skip
            ax.set_aspect("equal")
            ax.set_title(name)
            ax.set_xlabel("x (Å)")
        axes[0].set_ylabel("y (Å)")
        fig.colorbar(sc, ax=axes, label="strain (%)", shrink=0.9)
        parts.append(_figure_html(fig, "Strain maps in the central slice",
                                  f"Normal strain along each grain's cube axes, atoms within 1.5 Å of the central "
                                  f"plane z = {centre:.1f} Å; tension positive (red)."))  # fmt: skip
    return "\n".join(parts)


#: Colours of the facet families in the facet view.
_FACET_COLOURS = {"{111}": "#1f77b4", "{100}": "#d62728", "{110}": "#2ca02c", "high-index": "#9467bd",
                  "edge": "#7f7f7f"}  # fmt: skip


def _facet_figure(model: AtomicModel, facet: np.ndarray) -> str:
    """Surface atoms seen from +z and from +x, coloured by facet (the near half of the particle in each view)."""
    pos = model.positions
    centre = pos.mean(0)
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    for ax, (depth, (h, v)) in zip(fig.subplots(1, 2), ((2, (0, 1)), (0, (1, 2))), strict=True):
        near = pos[:, depth] >= centre[depth]
        order = np.argsort(pos[:, depth])
        for name, colour in _FACET_COLOURS.items():
            pick = order[(facet[order] == name) & near[order]]
            if len(pick):
                ax.scatter(pos[pick, h], pos[pick, v], s=16, c=colour, label=name, edgecolors="none")
        ax.set_aspect("equal")
        ax.set_xlabel("xyz"[h] + " (Å)")
        ax.set_ylabel("xyz"[v] + " (Å)")
        ax.set_title(f"seen from +{'xyz'[depth]}")
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=9)
    return _figure_html(fig, "Facet view of the surface atoms",
                        "Surface atoms coloured by the facet they lie on (the hull face's family against the grain's "
                        "cube axes); edges and corners grey.")  # fmt: skip


def write_analysis_report(path: Path, model: AtomicModel, analysis: Analysis) -> Path:
    """A standalone HTML page with :func:`analysis_section` (what ``aet analyse`` writes beside its outputs),
    written atomically."""
    page = "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      "<title>aet analysis</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
                      "<h1>aet analysis</h1>", f'<p class="meta">{len(model)} atoms</p>',
                      analysis_section(model, analysis), "</body>", "</html>", ""])  # fmt: skip
    with atomic_paths(path) as (tmp,):
        tmp.write_text(page, encoding="utf-8")
    return path
