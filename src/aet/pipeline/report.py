"""A self-contained, offline HTML report of an ``aet run``: key figures, slices, model, R1 and projections.

Every figure is a matplotlib PNG embedded as a base64 ``data:`` URI, so the file opens anywhere (no JavaScript,
no network, no external files). Figures are drawn on the Agg canvas without touching pyplot's global state.
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

from aet.io.atomic import atomic_paths
from aet.model import AtomicModel, TiltSeries, Volume

#: Atoms within this distance (Å) of a slice plane are drawn on that slice.
SLICE_HALF_WIDTH_A = 1.0
#: Resolution of the embedded PNGs.
DPI = 90
#: At most this many atoms per panel are drawn in the 3-D view (a random subset beyond that; counts stay exact).
MAX_3D_POINTS = 20000

_NESTED_SECTIONS = (
    ("atoms", "Atoms per species", ""),
    ("r1", "R-factors (R1)", ""),
    ("timings_s", "Timings", " s"),
    ("versions", "Versions", ""),
    ("comparison", "Comparison with the ground truth", ""),
)

_CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1300px; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 1.5em 0.8em 0; display: inline-table; vertical-align: top; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #444; margin-top: 0.3em; }
p.note { color: #8a5a00; }
"""


def write_report(
    path: Path,
    summary: dict,
    tomogram: Volume,
    augmented: Volume | None,
    model: AtomicModel,
    tilt_series: TiltSeries,
    calculated: np.ndarray | None,
    r1_per_projection: list[float] | None,
    truth: AtomicModel | None = None,
) -> Path:
    """Write the HTML report to ``path`` (atomically) and return ``path``.

    Args:
        path: the output file, conventionally ``report.html``.
        summary: the run summary (JSON-able, possibly nested: ``atoms``, ``r1``, ``timings_s``, ``versions``,
            ``comparison``).
        tomogram: the reconstruction.
        augmented: the network-augmented tomogram, or ``None``.
        model: the traced (refined) atomic model, positions (x, y, z) in Å.
        tilt_series: the measured projections.
        calculated: projections calculated from the model, same shape as ``tilt_series.images``, or ``None``.
        r1_per_projection: R1 of each projection, or ``None``.
        truth: the ground-truth model, when known.
    """
    path = Path(path)
    colours = _species_colours(model, truth)
    body: list[str] = [
        "<h1>aet report</h1>",
        f"<p>Written {html.escape(datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC'))}.</p>",
        "<h2>Key figures</h2>",
        _summary_html(summary),
        "<h2>Central slices</h2>",
        _slices_section(tomogram, augmented, model, colours),
        "<h2>Atomic model</h2>",
        _model_section(model, truth, colours),
    ]
    if r1_per_projection is not None:
        body += ["<h2>R1 per projection</h2>", _r1_section(tilt_series, r1_per_projection)]
    if calculated is not None:
        body += ["<h2>Measured and calculated projections</h2>", _projection_section(tilt_series, calculated)]
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>aet report</title>",
            f"<style>{_CSS}</style>",
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
    summary = summary or {}
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


def _figure_html(fig: Figure, alt: str, caption: str) -> str:
    """Render ``fig`` to an embedded PNG inside a ``<figure>`` with ``alt`` text and a caption."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


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
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)

    panels = [("traced model", model)] + ([("ground truth", truth)] if truth is not None else [])
    fig = Figure(figsize=(6.5 * len(panels), 6), layout="constrained")
    elements_all = [m.elements for _, m in panels]
    subsampled = False
    allpos = np.concatenate([m.positions for _, m in panels]) if any(len(m) for _, m in panels) else np.zeros((0, 3))
    for i, ((label, m), els) in enumerate(zip(panels, elements_all, strict=True)):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        els_arr = np.asarray(els)
        shown = np.ones(len(m), dtype=bool)
        if len(m) > MAX_3D_POINTS:
            shown[:] = False
            shown[np.random.default_rng(0).choice(len(m), MAX_3D_POINTS, replace=False)] = True
            subsampled = True
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
            ax.legend(loc="upper left", fontsize=9, title=f"{len(m)} atoms")
        else:
            ax.text2D(0.5, 0.5, "no atoms", transform=ax.transAxes, ha="center")
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        ax.set_zlabel("z (Å)")
        ax.set_title(label)
    what = "the traced atomic model (left) and the ground truth (right)" if truth is not None else "the traced model"
    out = _figure_html(
        fig,
        alt=f"3-D scatter plot of {what}, coloured by species",
        caption=f"3-D view of {what}, one point per atom coloured by species; axes in Å, counts in the legend"
        + (f" (a random {MAX_3D_POINTS} atoms per panel are drawn)." if subsampled else "."),
    )
    if truth is not None:
        species = list(dict.fromkeys(model.species + truth.species))
        traced = {s: model.elements.count(s) for s in species}
        true = {s: truth.elements.count(s) for s in species}
        rows = "".join(
            f'<tr><th>{_esc(s)}</th><td class="num">{traced[s]}</td><td class="num">{true[s]}</td>'
            f'<td class="num">{traced[s] - true[s]:+d}</td></tr>'
            for s in species
        )
        out += (
            "<table><caption>Atom counts: traced vs ground truth</caption>"
            "<tr><th>species</th><th>traced</th><th>truth</th><th>difference</th></tr>"
            f"{rows}</table>"
        )
    return out


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
