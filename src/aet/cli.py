"""The ``aet`` command line: one thin command per stage (typer + rich)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import aet
from aet.cli_settings import with_settings
from aet.errors import AetError, AetPixelSizeWarning, AetUsageError
from aet.model import AtomicModel, TiltSeries
from aet.settings import names
from aet.settings.adapt import AdaptSettings
from aet.settings.augment import AugmentSettings
from aet.settings.reconstruct import METHOD_SETTINGS, ReconstructSettings
from aet.settings.refine import RefineSettings
from aet.settings.trace import TraceSettings
from aet.threads import set_threads

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Atomic electron tomography toolkit.",
                  rich_markup_mode=None)  # help texts name TOML tables, e.g. [augment]: no markup
console = Console()
err_console = Console(stderr=True)

# options shared by the commands that read a tilt series
_TILTS = Annotated[Path, typer.Argument(help="Measured tilt series (MRC/TIFF/HDF5/MAT/NPY…).")]
_ANGLES = Annotated[Path | None, typer.Option(help="Angle file (n×3 Euler or n tilts, degrees).")]
_PIXEL = Annotated[float | None, typer.Option(help="Pixel size, Å (if the file does not hold it).")]
_KEY = Annotated[str | None, typer.Option(help="Array name inside a .mat/.h5/.npz file.")]
_EULER = Annotated[str | None, typer.Option(help="Euler convention of the angles: zyz or zyx.")]
_ANGLES_KEY = Annotated[str | None, typer.Option(help="Array name of the angles inside their file.")]
_DEVICE = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
_THREADS = Annotated[int | None, typer.Option(help="CPU threads (default: all cores); fewer on a shared machine.")]


def _version(value: bool) -> None:
    if value:
        console.print(f"aet {aet.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """aet: simulate, reconstruct, augment, trace and refine atomic electron tomography data."""


def run_app() -> None:
    """Entry point: aet's errors as one clear line without a traceback; exit 2 for a wrong command (option, setting,
    output folder), 1 for data aet cannot use, 130 for Ctrl-C."""
    try:
        code = app(standalone_mode=False)
    except AetError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)  # one line, never wrapped
        raise SystemExit(2 if isinstance(exc, AetUsageError) else 1) from None
    except (KeyboardInterrupt, typer.Abort) as exc:
        notes = getattr(exc, "__notes__", None) or ["aet: interrupted."]
        err_console.print(escape(notes[-1]), soft_wrap=True)
        raise SystemExit(130) from None
    except Exception as exc:
        # usage errors (click's, or typer's own copy of click since typer 0.22) keep their formatting; duck-typed
        # because newer typer versions no longer install click
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        if callable(getattr(exc, "format_message", None)):  # one line, and where to read more
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message = " ".join(exc.format_message().split())
            err_console.print(f"[bold red]error:[/] {escape(message)}{where}", soft_wrap=True)
        raise SystemExit(code) from None
    if isinstance(code, int) and code:
        if code == 130:  # typer turns Ctrl-C into Exit(130) and returns it; a command may have left what it knew
            err_console.print(escape(_INTERRUPTED[-1] if _INTERRUPTED else "aet: interrupted."), soft_wrap=True)
        raise SystemExit(code)


#: What the command that Ctrl-C stopped knew of where it was (typer swallows the exception and its notes).
_INTERRUPTED: list[str] = []


def describe(obj: Any) -> list[tuple[str, str]]:
    """Human-readable facts about a loaded object, as (name, value) rows."""
    from aet.model import AtomicModel, TiltSeries, Volume

    def rng(a: np.ndarray) -> str:
        return f"{float(a.min()):.4g} … {float(a.max()):.4g}" if a.size else "empty"

    if isinstance(obj, TiltSeries):
        return [
            ("object", "TiltSeries"),
            ("images", f"{obj.n_images} × {obj.images.shape[1]} × {obj.images.shape[2]} ({obj.images.dtype})"),
            ("pixel size", f"{obj.pixel_size:g} Å"),
            ("tilt range θ", f"{rng(obj.tilt_angles)} °"),
            ("Euler convention", obj.euler_convention + (" (single-axis)" if obj.is_single_axis() else "")),
            ("value range", rng(obj.images)),
        ]
    if isinstance(obj, Volume):
        return [
            ("object", "Volume"),
            ("shape [z, y, x]", " × ".join(map(str, obj.shape)) + f" ({obj.data.dtype})"),
            ("voxel size", f"{obj.voxel_size:g} Å"),
            ("extent", " × ".join(f"{s * obj.voxel_size:.1f}" for s in obj.shape) + " Å"),
            ("value range", rng(obj.data)),
        ]
    if isinstance(obj, AtomicModel):
        counts = {e: obj.elements.count(e) for e in obj.species}
        rows = [
            ("object", "AtomicModel"),
            ("atoms", str(len(obj))),
            ("elements", ", ".join(f"{e}: {n}" for e, n in counts.items()) or "none"),
        ]
        if len(obj):
            span = obj.positions.max(axis=0) - obj.positions.min(axis=0)
            rows.append(("extent x, y, z", ", ".join(f"{s:.1f}" for s in span) + " Å"))
        if obj.b_factor is not None:
            rows.append(("B-factor", f"{rng(obj.b_factor)} Å² (AET convention)"))
        return rows
    arr = np.asarray(obj)
    if arr.ndim == 2 and arr.shape[1] == 3:
        return [
            ("object", "Euler angles [n, 3] (φ, θ, ψ)"),
            ("count", str(arr.shape[0])),
            ("θ range", f"{rng(arr[:, 1])} °"),
            ("φ range", f"{rng(arr[:, 0])} °"),
            ("ψ range", f"{rng(arr[:, 2])} °"),
        ]
    return [("object", f"array {arr.shape} {arr.dtype}"), ("value range", rng(arr))]


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="Any file aet reads (MRC, TIFF, HDF5, NPY/NPZ, MAT, XYZ, CSV, ...).")],
    key: Annotated[str | None, typer.Option(help="Array name inside a .mat/.h5/.npz file.")] = None,
    kind: Annotated[str | None, typer.Option(help="Force tiltseries, volume, model, angles or types.")] = None,
    angles: Annotated[Path | None, typer.Option(help="Angle file for a bare projection stack.")] = None,
    pixel_size: _PIXEL = None,
    euler: _EULER = None,
    angles_key: _ANGLES_KEY = None,
) -> None:
    """Show what a file holds: shape, pixel size, angle range, value range, atoms and elements."""
    if angles is not None or kind == "tiltseries":
        obj: Any = _read_tilts(file, angles, pixel_size, key, euler, angles_key)
    else:
        obj = aet.io.read(file, key=key, kind=kind, pixel_size=pixel_size, euler_convention=euler)
    table = Table(title=str(file), show_header=False)
    for name, value in describe(obj):
        table.add_row(name, escape(value))
    console.print(table)


@app.command()
def simulate(
    out: Annotated[
        Path, typer.Option(help="Output prefix: writes OUT.mrc (+ .mrc.json), OUT_angles.txt, OUT_truth.xyz.")
    ],
    structure: Annotated[
        str,
        typer.Option(
            help="cuboctahedron, octahedron, truncated-octahedron, decahedron, "
            "icosahedron, wulff, sphere, random or amorphous."
        ),
    ] = "cuboctahedron",
    element: Annotated[str, typer.Option(help="Element(s), comma-separated: Pt, or Fe,Pt for alloys.")] = "Pt",
    size: Annotated[float, typer.Option(help="Particle diameter, nm.")] = 3.0,
    chemistry: Annotated[str, typer.Option(help="pure, random, l10 or core-shell.")] = "pure",
    fractions: Annotated[str | None, typer.Option(help="Random-alloy fractions, comma-separated.")] = None,
    lattice_constant: Annotated[float | None, typer.Option(help="Lattice constant, Å (default: host's).")] = None,
    shell: Annotated[float, typer.Option(help="Shell thickness for core-shell, Å.")] = 4.0,
    vacancies: Annotated[float, typer.Option(help="Fraction of atoms removed.")] = 0.0,
    thermal: Annotated[float, typer.Option(help="Random displacement per axis, Å.")] = 0.0,
    support: Annotated[float, typer.Option(help="Support film thickness, Å (0 = none).")] = 0.0,
    support_kind: Annotated[str, typer.Option(
        help="Support film: C or SiN (amorphous), Al2O3, MgO or CeO2 (crystal, face up: (0001), (001), (001)).")] = "C",
    tilt_min: Annotated[float, typer.Option(help="First tilt, degrees.")] = -65.0,
    tilt_max: Annotated[float, typer.Option(help="Last tilt, degrees.")] = 65.0,
    tilt_step: Annotated[float, typer.Option(help="Tilt step, degrees.")] = 3.0,
    dose: Annotated[float, typer.Option(help="Dose per projection, e/Å² (0 = noise-free).")] = 1e5,
    pixel_size: Annotated[float, typer.Option(help="Pixel size, Å.")] = 0.357,
    image_size: Annotated[int | None, typer.Option(help="Image side, pixels (default: fits the particle).")] = None,
    b_factor: Annotated[float, typer.Option(help="B-factor, Å² (AET convention H·exp(−π²r²/B)).")] = 5.0,
    angle_error: Annotated[float, typer.Option(help="Angle error (std), degrees.")] = 0.0,
    drift: Annotated[float, typer.Option(help="Per-image drift (std), Å.")] = 0.0,
    background: Annotated[float, typer.Option(help="Background, counts per pixel.")] = 0.0,
    read_noise: Annotated[float, typer.Option(help="Detector read noise (std), counts.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    physics: Annotated[str, typer.Option(
        help="linear (aet's Z^1.7 atom projector, fast) or multislice (abTEM: channelling, probe tails, thermal "
        "diffuse scattering; pip install 'aet[multislice]'; minutes per projection on a CPU).")] = "linear",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Simulate an ADF-STEM tilt series and its ground-truth atomic model."""
    from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
    from aet.simulate.structures import build_model

    model = build_model(
        structure,
        element.split(","),
        size,
        chemistry,
        fractions=[float(f) for f in fractions.split(",")] if fractions else None,
        lattice_constant=lattice_constant,
        shell_thickness=shell,
        vacancy_fraction=vacancies,
        thermal_sigma=thermal,
        support_thickness=support,
        seed=seed,
        support=support_kind,
    )
    acq = Acquisition(
        pixel_size=pixel_size,
        image_size=image_size,
        dose=dose or None,
        b_factor=b_factor,
        angle_error=angle_error,
        drift=drift,
        background=background,
        read_noise=read_noise,
        seed=seed,
        physics=physics,  # type: ignore[arg-type]  # checked by simulate_tilt_series
    )
    paths = [Path(f"{out}.mrc"), Path(f"{out}_angles.txt"), Path(f"{out}_truth.xyz")]
    for p in paths:  # all of them before any is written: never a partial set
        aet.io.check_writable(p, overwrite, create=True)
    with console.status(f"simulating {len(model)} atoms…"):
        ts = simulate_tilt_series(model, tilt_range(tilt_min, tilt_max, tilt_step), acq)
    aet.io.write(ts, paths[0], overwrite=overwrite)
    aet.io.write(ts.angles, paths[1], overwrite=overwrite)
    aet.io.write(model, paths[2], overwrite=overwrite)
    counts = ", ".join(f"{e}: {model.elements.count(e)}" for e in model.species)
    console.print(
        f"{len(model)} atoms ({counts}); {ts.n_images} projections of {ts.images.shape[1]}² px at {pixel_size} Å"
    )
    for p in paths:
        console.print(f"  wrote {p}")


@app.command()
@with_settings(options=(ReconstructSettings, *METHOD_SETTINGS.values()))
def reconstruct(
    tilts: Annotated[Path, typer.Argument(help="Tilt series (MRC/TIFF/HDF5/MAT/NPY…) or a bare projection stack.")],
    out: Annotated[Path, typer.Argument(help="Output tomogram (.mrc recommended; any volume format aet writes).")],
    options: dict[str, Any],
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    euler: _EULER = None,
    key: _KEY = None,
    device: _DEVICE = "auto",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Reconstruct a tomogram (voxel size = pixel size); the settings and error log go to OUT's JSON sidecar."""
    import time

    from aet.reconstruction import reconstruct as run_reconstruction
    from aet.reconstruction import resolve_settings

    set_threads(threads)
    ts = aet.io.read_tilt_series(tilts, key=key, angles=angles, pixel_size=pixel_size, euler_convention=euler)
    aet.io.check_writable(out, overwrite)
    method = options.pop("method")
    cls = METHOD_SETTINGS[method]
    given = {k: v for k, v in options.items() if v is not None}
    common = {k: given.pop(k) for k in list(given) if k in names(ReconstructSettings)}
    # an option of another method is refused when it was changed from its default, ignored when it was not
    given = {k: v for k, v in given.items() if k in names(cls) or v != _field_default(k)}
    common["support"] = options["support"]
    settings, method_settings = resolve_settings(method, None, None, {**common, **given})
    mask = None if settings.support in (None, "auto") else aet.io.read_volume(str(settings.support))
    t0 = time.perf_counter()
    vol = run_reconstruction(ts, settings=settings, method_settings=method_settings, support_mask=mask, device=device)
    aet.io.write(vol, out, overwrite=overwrite)
    rec = vol.metadata["reconstruction"]
    last = rec["log"][-1] if rec["log"] else {}
    errors = ", ".join(f"{k} {v:.4f}" for k, v in last.items())
    console.print(
        f"{method} on {rec['device']}: {' × '.join(map(str, vol.shape))} voxels of {vol.voxel_size:g} Å "
        f"in {time.perf_counter() - t0:.1f} s; final {errors}"
    )
    console.print(f"  wrote {out} (+ {out}.json with the settings and the per-iteration log)")


def _field_default(name: str) -> Any:
    """The default of the method field ``name`` (the first method that has it)."""
    for cls in METHOD_SETTINGS.values():
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f.default
    return None


@app.command()
@with_settings(options=(TraceSettings,))
def trace(
    volume: Annotated[Path, typer.Argument(help="Tomogram or network output (MRC, TIFF, HDF5, MAT, NPY…).")],
    out: Annotated[Path, typer.Argument(help="Atomic model to write: .xyz (extended XYZ), .csv, .cif, .pdb, .h5.")],
    options: dict[str, Any],
    elements: Annotated[str, typer.Option(help="Species present, comma-separated, e.g. Fe,Pt.")] = "Pt",
    species_volume: Annotated[Path | None, typer.Option(
        help="Tomogram whose intensities decide the species (give the reconstruction when tracing a network's "
        "output, whose peaks all have height ~1).")] = None,
    key: _KEY = None,
    voxel_size: Annotated[float | None, typer.Option(help="Voxel size, Å (if the file does not hold it).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Trace the atoms of a tomogram: positions (Å), species and per-atom scores. A network output is traced with
    its model card's settings for those left at auto."""
    import warnings

    from aet.nn.tracing import trace_output

    vol = aet.io.read_volume(volume, key=key, voxel_size=voxel_size)
    species = None if species_volume is None else aet.io.read_volume(species_volume, key=key, voxel_size=voxel_size)
    aet.io.check_writable(out, overwrite)
    settings = TraceSettings(**options)
    mask = None if settings.support in (None, "auto") else aet.io.read_volume(str(settings.support))
    names_ = [e for e in elements.split(",") if e.strip()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if species is None:
            model = aet.trace(vol, names_, settings, support_mask=mask)
        else:
            model = trace_output(vol, species, names_, settings, support_mask=mask)
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {escape(str(w.message))}")
    info = model.metadata["trace"]
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info["counts"].items())
    per = ", ".join(f"{e} {model.elements.count(e)}" for e in model.species)
    console.print(f"{len(model)} atoms ({per or 'none'}); peaks: {counts}")
    if "note" in info:
        console.print(f"  note: {info['note']}")
    aet.io.write(model, out, overwrite=overwrite)
    console.print(f"  wrote {out}")


@app.command()
@with_settings(options=(AugmentSettings,))
def augment(
    volume: Annotated[Path, typer.Argument(help="Tomogram (MRC, TIFF, HDF5, MAT, NPY…); voxel size from the file.")],
    out: Annotated[Path, typer.Argument(help="Augmented (atomicity) volume to write, e.g. OUT.mrc.")],
    options: dict[str, Any],
    elements: Annotated[str | None, typer.Option(
        help="Species present, comma-separated (with --model auto: two or more pick unet-alloy).")] = None,
    uncertainty: Annotated[Path | None, typer.Option(help="Also write the per-voxel uncertainty volume here.")] = None,
    key: _KEY = None,
    voxel_size: Annotated[float | None, typer.Option(help="Voxel size, Å (if the file does not hold it).")] = None,
    device: _DEVICE = "auto",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Sharpen a missing-wedge tomogram into atomic peaks with a trained network (+ uncertainty)."""
    from aet.nn.augment import augment as run_augment

    set_threads(threads)
    vol = aet.io.read_volume(volume, key=key, voxel_size=voxel_size)
    for path in (out, uncertainty):
        if path is not None:
            aet.io.check_writable(path, overwrite)
    settings = AugmentSettings(**options)
    names_ = [e for e in elements.split(",") if e.strip()] if elements else None
    result, spread = run_augment(vol, settings=settings, elements=names_, device=device, return_uncertainty=True)
    aet.io.write(result, out, overwrite=overwrite)
    info = result.metadata["augment"]
    console.print(f"augmented {vol.shape} with {info['model']} in {info['seconds']:.1f} s; wrote {out}")
    if uncertainty is not None:
        aet.io.write(spread, uncertainty, overwrite=overwrite)
        console.print(f"  wrote {uncertainty} (standard deviation over {settings.tta} flips)")


@app.command()
@with_settings(options=(AdaptSettings,))
def adapt(
    tilts: _TILTS,
    out: Annotated[Path, typer.Option(help="Adapted weights to write (NAME.safetensors; its card NAME.json beside).")],
    options: dict[str, Any],
    model: Annotated[str, typer.Option(help="Network to adapt: a shipped name or a .safetensors path.")] = "default",
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    euler: _EULER = None,
    key: _KEY = None,
    device: _DEVICE = "auto",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Fine-tune a network on one aligned tilt series, from its own projections (no ground truth); use the weights
    with aet augment --model OUT or [augment] model. A raw series: aet run --adapt prepares it first."""
    from aet.nn import weights
    from aet.nn.adapt import adapt as run_adapt

    set_threads(threads)
    ts = aet.io.read_tilt_series(tilts, key=key, angles=angles, pixel_size=pixel_size, euler_convention=euler)
    out = out.with_suffix(".safetensors")
    for path in (out, out.with_suffix(".json")):
        aet.io.check_writable(path, overwrite)
    net, card, report = run_adapt(ts, model, AdaptSettings(**options), device=device, source=str(tilts))
    weights.save(net, card, out)
    console.print(
        f"adapted {card.extra['adaptation']['base_model']} in {report.steps} steps ({report.seconds:.0f} s): "
        f"held-out misfit {report.check_before:.4f} -> {report.check_best:.4f} (kept step {report.best_step})"
    )
    console.print(f"  wrote {out} and its model card {out.with_suffix('.json')}")


@app.command()
def inpaint(
    tilts: _TILTS,
    out: Annotated[Path, typer.Argument(help="Extended tilt series to write (.npz keeps the 'predicted' marks).")],
    angles: Annotated[str, typer.Option(
        help="Tilts to predict, degrees: start:stop:step (stop included) or a list, e.g. -90:90:2 or 70,75,80.")],
    model: Annotated[str, typer.Option(help="Inpainting network: a shipped name or a .safetensors path.")] = (
        "sinogram-unet"),
    angles_file: Annotated[Path | None, typer.Option(help="Angle file of TILTS (n×3 Euler or n tilts, degrees).")] = (
        None),
    pixel_size: _PIXEL = None,
    euler: _EULER = None,
    key: _KEY = None,
    device: _DEVICE = "auto",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Predict projections at unmeasured tilts of an aligned single-axis series (sinogram inpainting); the measured
    images are kept unchanged, first and in order, and each image is marked measured or predicted. Reconstruct the
    output with aet reconstruct; refine against the measured series (aet refine and aet rfactor leave predicted
    images out)."""
    from aet.nn.inpaint import inpaint as run_inpaint
    from aet.nn.inpaint import parse_angles

    set_threads(threads)
    aet.io.check_writable(out, overwrite)
    ts = _read_tilts(tilts, angles_file, pixel_size, key, euler, None)
    extended = run_inpaint(ts, parse_angles(angles), model, device=device)
    aet.io.write(extended, out, overwrite=overwrite)
    console.print(f"predicted {extended.n_images - ts.n_images} projections with {model}; wrote {out} "
                  f"({ts.n_images} measured + {extended.n_images - ts.n_images} predicted images)")  # fmt: skip


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Training config (TOML), e.g. configs/train_unet.toml.")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, logs, the trained model and its card.")],
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.safetensors if present.")] = True,
    workers: Annotated[int | None, typer.Option(help="Background sample generators (overrides the config).")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps (overrides the config).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (overrides the config).")] = None,
) -> None:
    """Train an augmentation network from simulated particles (resumable; logs as CSV)."""
    from aet.nn.train import load_config
    from aet.nn.train import train as run_train

    cfg = load_config(config)
    for section, key, value in (("data", "workers", workers), ("training", "steps", steps),
                                ("training", "device", device)):  # fmt: skip
        if value is not None:
            cfg[section][key] = value
    path = run_train(cfg, out, resume=resume, config_path=config)
    console.print(f"wrote {path} and its model card {path.with_suffix('.json')}")


def _read_pair(model: Path, tilts: Path, angles: Path | None, pixel_size: float | None, key: str | None,
               euler: str | None, angles_key: str | None) -> tuple[AtomicModel, TiltSeries]:  # fmt: skip
    """An atomic model and a tilt series from files, checked to be what they claim."""
    found = aet.io.read_model(model)
    return found, _read_tilts(tilts, angles, pixel_size, key, euler, angles_key)


def _read_tilts(tilts: Path, angles: Path | None, pixel_size: float | None, key: str | None, euler: str | None,
                angles_key: str | None) -> TiltSeries:  # fmt: skip
    """A tilt series read with the options every command shares with ``aet run``."""
    return aet.io.read_tilt_series(tilts, key=key, angles=angles, pixel_size=pixel_size, euler_convention=euler,
                                   angles_key=angles_key)  # fmt: skip


@app.command()
@with_settings(options=(RefineSettings,))
def refine(
    model: Annotated[Path, typer.Argument(help="Traced model (XYZ, CSV, …), positions in Å about the centre.")],
    tilts: _TILTS,
    out: Annotated[Path, typer.Argument(help="Refined model to write (.xyz keeps B, H and the moves).")],
    options: dict[str, Any],
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    key: _KEY = None,
    euler: _EULER = None,
    angles_key: _ANGLES_KEY = None,
    device: _DEVICE = "auto",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Refine positions, B and H against the measured projections; the report goes to OUT.json."""
    from aet.io.atomic import atomic_paths, dump_json

    set_threads(threads)
    found, ts = _read_pair(model, tilts, angles, pixel_size, key, euler, angles_key)
    aet.io.check_writable(out, overwrite)
    refined, report = aet.refine(found, ts, RefineSettings(**options), device=device)
    aet.io.write(refined, out, overwrite=overwrite)
    report_path = out.with_name(out.name + ".refine.json")
    with atomic_paths(report_path) as (tmp,):
        dump_json(report.to_dict(), tmp)
    b, a = report.before, report.after
    console.print(
        f"R1 {b.R1:.4f} -> {a.R1:.4f} (mean over projections {b.R1_mean:.4f} -> {a.R1_mean:.4f}); "
        f"moves: mean {report.move_A.mean:.3f} Å, max {report.move_A.max:.3f} Å; "
        f"{len(report.log)} steps in {report.seconds:.1f} s"
    )
    for s, v in report.species.items():
        console.print(f"  {s}: H = {v.height:.4g}, B = {v.b_factor_A2:.2f} Å² (AET convention)")
    console.print(f"  wrote {out} and {report_path}")


@app.command()
def align(
    tilts: _TILTS,
    out: Annotated[Path, typer.Argument(help="Aligned tilt series to write (.npz/.h5 keep the record; .mrc + JSON).")],
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    key: _KEY = None,
    euler: _EULER = None,
    angles_key: _ANGLES_KEY = None,
    tilt_axis: Annotated[
        float | None, typer.Option(help="Tilt-axis direction, degrees counter-clockwise from the rows; default: found.")
    ] = None,
    sample: Annotated[str, typer.Option(help="particle (on vacuum) or film (fills the field of view).")] = "particle",
    threads: _THREADS = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Find the tilt axis and the image shifts from the data and write the series turned and shifted into line."""
    import time

    from aet.prepare.align import align_series

    if sample not in ("particle", "film"):
        raise AetUsageError(f"--sample must be particle or film, got {sample!r}.")
    set_threads(threads)
    ts = _read_tilts(tilts, angles, pixel_size, key, euler, angles_key)
    aet.io.check_writable(out, overwrite)
    t0 = time.perf_counter()
    aligned, found = align_series(ts, tilt_axis if tilt_axis is not None else (ts.tilt_axis or None), sample)
    aet.io.write(aligned, out, overwrite=overwrite)
    rms = np.sqrt(np.mean(found.shifts**2, axis=0))
    console.print(
        f"tilt axis {found.tilt_axis:.2f}° ({found.axis_source}); shifts RMS {rms[0]:.2f} Å along the axis, "
        f"{rms[1]:.2f} Å across (noise {found.shift_noise:.2f} Å), {found.iterations} rounds of projection matching, "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    for note in found.notes:
        console.print(f"  note: {note}")
    console.print(f"  wrote {out}" + ("" if found.applied else " (corrections negligible: images unchanged)"))


@app.command()
def rfactor(
    model: Annotated[Path, typer.Argument(help="Atomic model (with B and H, e.g. from aet refine).")],
    tilts: _TILTS,
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    key: _KEY = None,
    euler: _EULER = None,
    angles_key: _ANGLES_KEY = None,
) -> None:
    """R-factors of a model against the measured projections (one global scale and background fitted)."""
    found, ts = _read_pair(model, tilts, angles, pixel_size, key, euler, angles_key)
    r = aet.rfactor(found, ts)
    per = np.asarray(r.R1_per_projection)
    console.print(
        f"R1 {r.R1:.4f} (pooled), {r.R1_mean:.4f} (mean over {len(per)} projections, "
        f"{per.min():.4f}–{per.max():.4f}); R2 {r.R2:.4f}"
    )


@app.command()
def analyse(
    model: Annotated[Path, typer.Argument(help="Atomic model (XYZ, CSV, PDB, CIF, H5, NPZ, MAT, …), positions in Å.")],
    out: Annotated[Path, typer.Option(help="Folder for atoms.xyz (with per-atom columns), analysis.json and "
                                           "analysis.html.")],  # fmt: skip
    lattice_constant: Annotated[float | None, typer.Option(
        help="Reference lattice constant for strain, Å; default: fitted per grain.")] = None,  # fmt: skip
    cutoff: Annotated[float | None, typer.Option(help="First-shell cut-off, Å; default (1 + √2)/2 × the "
                                                      "nearest-neighbour distance.")] = None,  # fmt: skip
    strain_radius: Annotated[float | None, typer.Option(
        help="Smoothing radius of the strain maps, Å; default 3.5 lattice constants, more near the surface.",
    )] = None,  # fmt: skip
    overwrite: Annotated[bool, typer.Option(help="Replace the files of an earlier analysis in --out.")] = False,
) -> None:
    """Structure analysis: coordination, RDF, surface facets, local structure (CNA), twins and grains, strain per
    atom, chemical order (Warren–Cowley, L1₀) and q4/q6 / Voronoi order."""
    import time

    from aet.analysis import analyse as run_analysis
    from aet.analysis import write_analysis
    from aet.errors import AetInputError

    found = aet.io.read(model, kind="model")
    if not isinstance(found, AtomicModel):
        raise AetInputError(f"{model} does not hold an atomic model.")
    t0 = time.perf_counter()
    result = run_analysis(found, lattice_constant, cutoff, strain_radius)
    paths = write_analysis(out, found, result, overwrite)
    s = result.summary
    counts = ", ".join(f"{k} {v}" for k, v in s["structure"]["counts"].items() if v)
    console.print(f"{len(found)} atoms in {time.perf_counter() - t0:.1f} s: {counts}; "
                  f"{len(s.get('grains', []))} grain(s), first RDF peak {s['neighbours']['rdf']['first_peak_A']:.3f} Å")
    for note in result.notes:
        console.print(f"  note: {note}")
    console.print(f"  wrote {', '.join(str(p) for p in paths)}")


@app.command()
def track(
    models: Annotated[list[Path], typer.Argument(help="Atomic models of one particle in time order (XYZ, CSV, …), Å.")],
    out: Annotated[Path, typer.Option(help="Folder for trajectory.xyz, tracking.json and tracking.html.")],
    radius: Annotated[float | None, typer.Option(
        help="Match radius, Å; default 0.8 × the nearest-neighbour distance (holds hops of up to 2 Å in Pt).")] = None,
    jump_radius: Annotated[float | None, typer.Option(
        help="Radius for atoms that jumped into a neighbouring vacancy, Å; default 1.3 × the nearest-neighbour "
             "distance.")] = None,  # fmt: skip
    move_threshold: Annotated[float, typer.Option(help="An atom moved when its displacement reaches this, Å.")] = 0.5,
    affine: Annotated[bool, typer.Option(help="Register with an affine map, not a rigid one.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the files of an earlier tracking in --out.")] = False,
) -> None:
    """4D AET: follow the atoms through a time series of models: registration, one-to-one correspondences,
    displacements, hops, vacancy jumps, species swaps, atoms that vanished or appeared."""
    from aet.errors import AetInputError
    from aet.tracking import track as run_track
    from aet.tracking import write_tracking

    found = []
    for path in models:
        model = aet.io.read(path, kind="model")
        if not isinstance(model, AtomicModel):
            raise AetInputError(f"{path} does not hold an atomic model.")
        found.append(model)
    result = run_track(found, radius=radius, jump_radius=jump_radius, move_threshold=move_threshold, affine=affine)
    paths = write_tracking(out, result, [str(p) for p in models], overwrite)
    for t, step in enumerate(result.steps):
        c = step.counts()
        console.print(f"{t} → {t + 1}: turned {step.registration.rotation_deg:.2f}°, {c['pairs']} pairs, "
                      f"{c['moved']} moved, {c['jump']} jumps, {c['swap'] // 2} swaps, {c['species_change']} species "
                      f"changes, {c['vanished']} vanished, {c['appeared']} appeared")  # fmt: skip
    console.print(f"  wrote {', '.join(str(p) for p in paths)}")


@app.command(name="run-series")
def run_series_cmd(
    tilts: Annotated[list[Path], typer.Argument(help="Tilt series in time order (or one folder holding them).")],
    out: Annotated[Path, typer.Option(help="Output folder: one run folder per time point (t00, t01, …) and the "
                                           "tracking.")],  # fmt: skip
    config: Annotated[Path | None, typer.Option(help="TOML config for every time point (as for aet run).")] = None,
    pixel_size: _PIXEL = None,
    elements: Annotated[str | None, typer.Option(help="Species present, comma-separated, e.g. Pt or Fe,Pt.")] = None,
    angles: _ANGLES = None,
    augment: Annotated[bool, typer.Option(help="Run the augmentation network (--no-augment to skip).")] = True,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); default a local cluster; 'serial' for no Dask.")] = None,
    workers: Annotated[int, typer.Option(help="Processes of the local cluster (one thread each).")] = 2,
    warm_start: Annotated[bool, typer.Option(
        help="Refine each time point from the refined model of the one before.")] = True,  # fmt: skip
    force: Annotated[bool, typer.Option(help="Rerun every stage of every time point.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or messages.")] = False,
) -> None:
    """4D AET: every time point through aet run (in parallel on Dask, each refinement warm-started from the one
    before), then the atoms tracked through the final models."""
    from aet.pipeline.series import run_series

    given = {
        "input": {"pixel_size": pixel_size, "elements": elements.split(",") if elements is not None else None,
                  "angles": str(angles) if angles else None},
        "augment": {"enabled": False if not augment else None},
    }  # fmt: skip
    given = {table: {k: v for k, v in values.items() if v is not None} for table, values in given.items()}
    result = run_series(tilts, out, config, given, scheduler=scheduler, workers=workers, warm_start=warm_start,
                        force=force, quiet=quiet)  # fmt: skip
    if not quiet:
        for t, s in enumerate(result.summaries):
            console.print(f"t{t:02d}: {s['atoms']['total']} atoms, R1 {s['r1']['R1']:.4f}")
        moved = sum(st.counts()["moved"] + st.counts()["jump"] for st in result.tracking.steps)
        console.print(f"{len(result.folders)} time points in {result.seconds:.0f} s; {moved} atoms moved or jumped")
        console.print(f"  outputs in {out}/: t00 … t{len(result.folders) - 1:02d}, trajectory.xyz, tracking.json, "
                      "tracking.html, series.json")  # fmt: skip


@app.command()
def compare(
    model: Annotated[Path, typer.Argument(help="Model to score (XYZ, CSV, PDB, CIF, H5, NPZ, MAT, …).")],
    truth: Annotated[Path, typer.Argument(help="True atomic model, same formats.")],
    radius: Annotated[float, typer.Option(help="Match radius, Å (report it with every figure).")] = 0.9,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing JSON file.")] = False,
) -> None:
    """Score a model against the truth after the mean shift: recall, precision, RMSD (pm), species, surface, and
    the global (affine) distortion of the matched atoms."""
    from aet.errors import AetInputError
    from aet.io.atomic import atomic_paths, check_writable, dump_json
    from aet.metrics import compare as compare_models
    from aet.metrics import global_distortion
    from aet.model import AtomicModel

    if json_out is not None:
        check_writable(json_out, overwrite)
    found, true = aet.io.read(model, kind="model"), aet.io.read(truth, kind="model")
    for path, obj in ((model, found), (truth, true)):
        if not isinstance(obj, AtomicModel):
            raise AetInputError(f"{path} does not hold an atomic model.")
    result = compare_models(found, true, radius)
    console.print(result)
    figures = result.to_dict()
    try:
        distortion = global_distortion(result, true)
    except AetInputError:  # fewer than 4 pairs, or all in one plane: no 3-D map to fit
        distortion = None
    if distortion is not None:
        console.print("  " + distortion.summary())
        figures["global_distortion"] = dataclasses.asdict(distortion)
    if json_out is not None:
        with atomic_paths(json_out) as (tmp,):
            dump_json(figures, tmp)
        console.print(f"  wrote {json_out}")


@app.command(name="run")
def run_pipeline(
    tilts: _TILTS,
    out: Annotated[Path, typer.Option(help="Output folder (created; earlier outputs there are reused if valid).")],
    angles: _ANGLES = None,
    pixel_size: _PIXEL = None,
    elements: Annotated[str | None, typer.Option(help="Species present, comma-separated, e.g. Pt or Ni,Pt.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config: every option of every stage.")] = None,
    key: _KEY = None,
    angles_key: _ANGLES_KEY = None,
    tilt_axis: Annotated[float | None, typer.Option(
        help="Tilt-axis direction, degrees counter-clockwise from the rows; default: from the file, else found."
    )] = None,
    euler: _EULER = None,
    augment: Annotated[bool, typer.Option(help="Run the augmentation network (--no-augment to skip).")] = True,
    adapt: Annotated[bool, typer.Option(help="Fine-tune the network on this series first ([adapt] table: minutes, "
                                             "method…).")] = False,  # fmt: skip
    force: Annotated[bool, typer.Option(help="Rerun every stage, even those whose inputs did not change.")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    threads: _THREADS = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars or messages (DIR/log.txt is still written).")] = False,
    allow_code: Annotated[bool, typer.Option(help="Let the config's [prepare] hooks run code they name.")] = False,
    force_pixel_size: Annotated[bool, typer.Option(help="Accept a pixel size outside 0.05–5 Å.")] = False,
    subareas: Annotated[bool, typer.Option(help="Sub-area AET: split the field into overlapping sub-areas "
                                                "([subareas] size, overlap), run each on Dask, stitch.")] = False,
    scheduler: Annotated[str | None, typer.Option(
        help="With --subareas: Dask scheduler address (tcp://host:8786); default a local cluster; 'serial'.")] = None,
    workers: Annotated[int | None, typer.Option(help="With --subareas: processes of the local cluster.")] = None,
) -> None:
    """Tilt series -> validated atomic model: reconstruct, augment, trace, refine, R-factor, report.

    Every check runs before the first stage. Exit codes: 0 done, 1 data aet cannot use, 2 a wrong option, setting
    or output folder, 130 interrupted (rerun the same command to resume)."""
    import warnings

    from aet.pipeline.run import run

    given = {
        "input": {"pixel_size": pixel_size, "elements": elements.split(",") if elements is not None else None,
                  "key": key, "angles": str(angles) if angles else None, "angles_key": angles_key,
                  "tilt_axis": tilt_axis, "euler": euler, "force_pixel_size": force_pixel_size or None},
        "augment": {"enabled": False if not augment else None, "adapt": adapt or None},
        "run": {"device": device, "threads": threads, "allow_code": allow_code or None},
        "subareas": {"enabled": subareas or None, "scheduler": scheduler, "workers": workers},
    }  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run(tilts, out, config, given, force=force, quiet=quiet)
        except KeyboardInterrupt as exc:
            _INTERRUPTED.extend(getattr(exc, "__notes__", []))  # "interrupted at stage X; rerun …"
            raise
    for w in caught:
        if not quiet and not issubclass(w.category, AetPixelSizeWarning):  # that one is already in the log
            err_console.print(f"[yellow]warning:[/] {escape(str(w.message))}")
    s = result.summary
    if not quiet:
        per = ", ".join(f"{k} {v}" for k, v in s.atoms.items())
        console.print(f"{s.n_atoms} atoms ({per}); R1 {s.rfactors.R1:.4f}; {s.total_s:.0f} s")
        console.print(f"  outputs in {out}/: tomogram.mrc, atoms.xyz, atoms.csv, summary.json, report.html"
                      + (", subareas.json, areas/aNN (one run per sub-area)" if s.subareas else ""))  # fmt: skip


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder of the demo run.")] = Path("aet-demo"),
    force: Annotated[bool, typer.Option(help="Rerun every stage.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    quiet: Annotated[bool, typer.Option(help="Only the final table.")] = False,
) -> None:
    """Simulate a 3 nm Pt particle with a missing wedge, run the whole pipeline, and score it against the truth."""
    import time

    from aet.pipeline.demo import EXAMPLE
    from aet.pipeline.demo import demo as run_demo

    t = time.perf_counter()
    result = run_demo(out, quiet=quiet, force=force, device=device)
    s = result.summary
    c, traced = s.comparison, s.comparison_traced
    assert c is not None and traced is not None  # the demo knows its truth
    table = Table(title=f"aet demo: {EXAMPLE['size_nm']} nm {EXAMPLE['element']}, {EXAMPLE['projections']} "
                  f"projections over ±{EXAMPLE['max_tilt']:g}°, {EXAMPLE['dose']:g} e/Å² each")  # fmt: skip
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    table.add_row("atoms (true / found)", f"{c.n_truth} / {c.n_model}", "")
    table.add_row("recall", f"{c.recall:.4f}", "≥ 0.98")
    table.add_row("precision", f"{c.precision:.4f}", "")
    table.add_row("RMSD (pm), traced", f"{traced.rmsd_pm:.1f}", "")
    table.add_row("RMSD (pm), refined", f"{c.rmsd_pm:.1f}", "≤ 20")
    r1 = s.refinement_r1[1] if s.refinement_r1 is not None else s.rfactors.R1
    table.add_row("R1 (refined model)", f"{r1:.4f}", "")
    table.add_row("time (s)", f"{time.perf_counter() - t:.0f}", "< 300 on 2 CPU cores")
    console.print(table)
    console.print(f"report: {(Path(out) / 'report.html').resolve()}")
