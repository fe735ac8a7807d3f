"""``aet run``: tilt series in, validated atomic model out, in resumable stages.

Stages: prepare (checks, background, normalisation, optional denoising and alignment hooks) → reconstruct →
adapt (``--adapt`` only: :mod:`aet.nn.adapt`) → augment → trace → guard (after a network:
:mod:`aet.pipeline.guard`) → refine → R-factor → report. Each stage writes its outputs atomically, then a record
``DIR/.aet/STAGE.json`` with a key: the hash of its settings and of the keys of the stages it depends on (the
first one also hashes the input file). A rerun skips a stage whose key is unchanged and whose outputs exist, so an
interrupted run starts again at the stage that was cut off, and a changed setting reruns that stage and those
after it. ``force=True`` reruns everything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from scipy import ndimage

import aet
from aet.analysis import Analysis
from aet.elements import check_symbols, nearest_neighbour_distance
from aet.errors import AetError, AetInputError, AetPixelSizeWarning, AetUsageError
from aet.io.atomic import atomic_paths, dump_json
from aet.metrics.rfactor import RFactors
from aet.model import AtomicModel, TiltSeries, Volume
from aet.nn.tracing import trace_output
from aet.nn.weights import network_for
from aet.pipeline.config import dumps, load_config
from aet.pipeline.folder import RunFolder
from aet.pipeline.summary import RunSummary, TiltSeriesFacts
from aet.prepare import DENOISERS, denoise
from aet.prepare.align import align_series, apply_alignment, check_object, rotate_series, without_background
from aet.prepare.sample import detect_sample
from aet.prepare.sampling import angular_sampling, sampling_warning
from aet.prepare.support import remove_support
from aet.refinement.report import RefineReport, free_summary
from aet.refinement.validate import in_some_image, inside_field_of_view
from aet.settings import to_table
from aet.settings.reconstruct import MethodSettings, ReconstructSettings
from aet.settings.run import (
    PIXEL_RANGE,
    AnalyseStage,
    AugmentStage,
    InputSettings,
    PrepareSettings,
    ReconstructStage,
    RefineStage,
    RunConfig,
)
from aet.settings.trace import TraceSettings
from aet.threads import set_threads

OUTPUTS = {
    "prepare": [".aet/prepared.npz"],
    "inpaint": ["tilts_inpainted.npz"],
    "reconstruct": ["tomogram.mrc"],
    "adapt": ["network_adapted.safetensors", "network_adapted.json"],
    "augment": ["tomogram_augmented.mrc", "tomogram_uncertainty.mrc"],
    "trace": ["atoms_traced.xyz"],
    "guard": ["atoms_checked.xyz", ".aet/guard_report.json"],
    "refine": ["atoms.xyz", "atoms.csv", ".aet/refine_report.json"],
    "rfactor": [".aet/rfactor.npz"],
    "analyse": ["analysis/atoms.xyz", "analysis/analysis.json", "analysis/analysis.html"],
}
#: What else aet writes into a run folder.
OUTPUT_NAMES = ("config_used.toml", "log.txt", "summary.json", "report.html")


@dataclass
class RunResult:
    """What ``aet run`` produced: the folder, the summary (also in summary.json) and the final model."""

    out: Path
    summary: RunSummary
    model: AtomicModel
    skipped: list[str] = field(default_factory=list)


def run(
    tilts: str | Path | TiltSeries,
    out: str | Path,
    config: str | Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    force: bool = False,
    quiet: bool = False,
    truth: AtomicModel | None = None,
) -> RunResult:
    """Run the pipeline on ``tilts`` (a file, or a TiltSeries) into the folder ``out``.

    Args:
        tilts: the tilt series file (angles from the file, or ``[input] angles``) or a TiltSeries.
        out: output folder (created); outputs of earlier runs there are reused when still valid.
        config: TOML file (see :mod:`aet.pipeline.config`); ``overrides`` (per table) win over it.
        force: rerun every stage.
        quiet: no progress bars or console messages (the log file is always written).
        truth: optional true atoms (simulations): the summary and report then compare against them.
    """
    result = execute(tilts, out, config, overrides, force=force, quiet=quiet, truth=truth)
    assert result is not None  # only a run cut short with ``until`` returns none
    return result


def execute(tilts: str | Path | TiltSeries, out: str | Path, config: str | Path | None = None,
            overrides: dict[str, dict[str, Any]] | None = None, *, force: bool = False, quiet: bool = False,
            truth: AtomicModel | None = None, until: str | None = None) -> RunResult | None:  # fmt: skip
    """:func:`run`, or with ``until="trace"`` the stages up to the trace only, returning None (aet run-series runs
    every time point up to the trace at once, then refines them in order, each warm-started from the one before)."""
    if until not in (None, "trace"):
        raise AetUsageError(f"a run can stop after the trace only (until='trace'), not {until!r}.")
    cfg = load_config(config, overrides)
    if cfg.subareas.enabled and until is not None:
        raise AetUsageError("a sub-area run (--subareas) cannot stop after the trace; run it whole.")
    try:
        elements = check_symbols(list(cfg.input.elements), unknown=False)
    except AetInputError as err:
        raise AetUsageError(f"[input] elements: {err}") from None
    cfg = replace(cfg, augment=replace(cfg.augment, model=network_for(cfg.augment.model, elements)))  # what ran
    _check_settings(cfg)
    source = tilts if isinstance(tilts, TiltSeries) else Path(tilts)
    ts_raw = _read_tilts(source, cfg.input)
    pixel_warning = check_pixel_size(ts_raw.pixel_size, elements, cfg.input.force_pixel_size)
    if cfg.augment.enabled and cfg.augment.adapt:  # enough images to adapt on: known now, before any stage
        from aet.nn.adapt import split_images
        from aet.refinement import free_images

        n = ts_raw.n_images
        split_images(n, cfg.adapt.check_fraction, free_images(n, cfg.refine.free_fraction))
    out = Path(out)
    names = [*OUTPUT_NAMES, *(f for files in OUTPUTS.values() for f in files)]
    if cfg.subareas.enabled:
        from aet.pipeline.subareas import OUTPUTS as SUBAREA_OUTPUTS

        names += [*SUBAREA_OUTPUTS, "areas"]
    folder = RunFolder(out, names, force)
    input_hash = _fingerprint(ts_raw, images_only=True)
    folder.check(input_hash)
    set_threads(cfg.run.threads)
    with folder.owned(input_hash):
        log = _logger(out, quiet)
        if pixel_warning:
            log.warning(pixel_warning)
        code = [n for n in (cfg.prepare.denoise, cfg.prepare.align) if n is not None and ":" in n]
        if code:
            log.warning(f"prepare: runs code named in the config (allowed with --allow-code): {', '.join(code)}")
            folder.save(code_allowed=code)
        with atomic_paths(out / "config_used.toml") as (tmp,):
            tmp.write_text(dumps(cfg))
        runner = _Stages(out, log, force, not quiet)
        progress_log = logging.getLogger("aet.progress")
        to_file = [h for h in log.handlers if isinstance(h, logging.FileHandler)]
        for h in to_file:  # every stage's progress milestones into log.txt, terminal or not
            progress_log.addHandler(h)
        progress_log.setLevel(logging.INFO)
        try:
            if cfg.subareas.enabled:
                from aet.pipeline.subareas import run_subareas

                result = run_subareas(ts_raw, out, cfg, runner, truth)
            else:
                result = _run_stages(ts_raw, cfg, elements, runner, truth, until)
        except KeyboardInterrupt as err:
            stage = runner.current or "start"
            log.error(f"interrupted at stage {stage}; rerun the same command to resume")
            folder.save(status="interrupted", stage=stage)
            err.add_note(f"aet run: interrupted at stage {stage}; rerun the same command to resume ({out}).")
            raise
        except Exception as err:
            stage = runner.current or "start"
            log.error(f"{stage}: {type(err).__name__}: {err}")
            folder.save(status="failed", stage=stage, error=f"{type(err).__name__}: {err}")
            with atomic_paths(out / "summary.json") as (tmp,):  # the run's figures say it failed, and where
                dump_json({"status": "failed", "stage": stage, "error": f"{type(err).__name__}: {err}"}, tmp)
            raise
        finally:
            for h in to_file:
                progress_log.removeHandler(h)
        folder.save(status="done" if result is not None else f"done until {until}", stage=None)
    return result


def _run_stages(ts_raw: TiltSeries, cfg: RunConfig, elements: list[str], runner: _Stages,
                truth: AtomicModel | None, until: str | None = None) -> RunResult | None:  # fmt: skip
    """The stages, each skipped when its key (settings and the content of the files it reads) is unchanged."""
    out, log, quiet, device = runner.out, runner.log, not runner.progress, cfg.run.device
    t_start = time.perf_counter()

    # ---- prepare
    prep_key = runner.key("prepare", to_table(cfg.input), to_table(cfg.prepare), _fingerprint(ts_raw))
    # the tilt axis the user states, else the file's unless it says 0 (most formats cannot say "unknown")
    given_axis = cfg.input.tilt_axis if cfg.input.tilt_axis is not None else (ts_raw.tilt_axis or None)
    ts = runner.stage("prepare", prep_key, lambda: _prepare(ts_raw, cfg.prepare, out, not quiet, given_axis),
                      lambda: _read_prepared(out))  # fmt: skip
    found = ts.metadata.get("prepare", {})
    keys = ("brightness_ratio", "correlation_with_secant")
    evidence = ", ".join(f"{k.replace('_', ' ')} {found[k]:.3g}" for k in keys if k in found)
    log.info(f"prepare: a {found.get('sample_found', 'particle')}" + (f" ({evidence})" if evidence else ""))
    if "support_fit" in found:
        sup = found["support_fit"]
        log.info(f"prepare: support film removed (film model fitted beside the particle, {sup['margin_A']} Å margin; "
                 f"footprint {sup['footprint_fraction_mean']:.0%} of the images, up to {sup['lattice_peaks_max']} "
                 "lattice peaks per image)")  # fmt: skip
    log.info("prepare: " + _alignment_line(ts))
    if found.get("sample_found", "particle") == "particle":
        sparse = sampling_warning(angular_sampling(ts, elements), ts.n_images, float(np.ptp(ts.tilt_angles)))
        if sparse:
            log.warning("prepare: " + sparse)

    # ---- inpaint: projections predicted at unmeasured tilts, for the reconstruction only (refinement, the guard, the
    # adaptation and the R-factor keep to the measured images of `ts`)
    rec_ts, rec_from = ts, "prepare"
    if cfg.reconstruct.inpaint:
        from aet.nn.weights import resolve

        in_key = runner.key("inpaint", cfg.reconstruct.inpaint, _file_hash(resolve(cfg.reconstruct.inpaint_model)),
                            runner.content("prepare"))  # fmt: skip
        rec_ts = runner.stage("inpaint", in_key, lambda: _inpaint(ts, cfg.reconstruct, device, out, log),
                              lambda: aet.io.read_tilt_series(out / OUTPUTS["inpaint"][0]))  # fmt: skip
        rec_from = "inpaint"

    # ---- reconstruct
    rec_key = runner.key("reconstruct", cfg.tables()["reconstruct"], runner.content(rec_from))
    tomogram = runner.stage(
        "reconstruct", rec_key, lambda: _reconstruct(rec_ts, cfg.reconstruct, cfg.method, device, out, not quiet),
        lambda: aet.io.read_volume(out / "tomogram.mrc"),
    )  # fmt: skip

    # ---- adapt: the network fine-tuned on this series (its own projections only; the R_free images kept out)
    adapt_report = None
    if cfg.augment.enabled and cfg.augment.adapt:
        from aet.nn.weights import resolve

        ad_key = runner.key("adapt", to_table(cfg.adapt), cfg.tables()["reconstruct"], cfg.refine.free_fraction,
                            _file_hash(resolve(cfg.augment.model)), runner.content("prepare"))  # fmt: skip
        adapt_report = runner.stage(
            "adapt", ad_key, lambda: _adapt(ts, cfg, device, out, not quiet, log, ad_key, runner.force,
                                            f"tilt series sha256 {_fingerprint(ts_raw)}"),
            lambda: _read_adapted(out),
        )  # fmt: skip
        cfg = replace(cfg, augment=replace(cfg.augment, model=str(out / OUTPUTS["adapt"][0])))

    # ---- augment
    augmented = uncertainty = None
    traced_from = [runner.content("reconstruct")]
    if cfg.augment.enabled:
        from aet.nn.weights import resolve

        _check_reconstruction_matches(cfg.augment.model, cfg.reconstruct, cfg.method, log)
        aug_key = runner.key("augment", to_table(cfg.augment), traced_from, _file_hash(resolve(cfg.augment.model)))
        augmented, uncertainty = runner.stage(
            "augment", aug_key, lambda: _augment(tomogram, cfg.augment, device, out, not quiet),
            lambda: tuple(aet.io.read_volume(out / f) for f in OUTPUTS["augment"]),
        )  # fmt: skip
        traced_from.append(runner.content("augment"))
    else:
        log.info("augment: off (--no-augment)")

    # ---- trace
    tr_key = runner.key("trace", to_table(cfg.trace), elements, traced_from)
    traced = runner.stage(
        "trace", tr_key, lambda: _trace(augmented, tomogram, elements, cfg.trace, out, log),
        lambda: aet.io.read_model(out / "atoms_traced.xyz"),
    )  # fmt: skip
    if until == "trace":
        return None
    measured = _measured(ts, out)

    # ---- guard: the network's atoms only as far as the measured projections support them
    guard_report, checked_from = None, runner.content("trace")
    if cfg.augment.enabled and cfg.augment.guard:
        g_key = runner.key("guard", to_table(cfg.refine), to_table(cfg.trace), elements, runner.content("trace"),
                           runner.content("reconstruct"), runner.content("prepare"))  # fmt: skip
        traced, guard_report = runner.stage(
            "guard", g_key, lambda: _guard(traced, tomogram, elements, cfg, measured, device, out, log),
            lambda: _read_guard(out),
        )  # fmt: skip
        checked_from = runner.content("guard")

    # ---- refine
    warm = cfg.refine.warm_start
    ref_key = runner.key("refine", to_table(cfg.refine), checked_from, runner.content("prepare"),
                         _file_hash(Path(warm)) if warm else None)  # fmt: skip
    model, refine_report = runner.stage(
        "refine", ref_key, lambda: _refine(traced, measured, cfg.refine, device, out, not quiet, log),
        lambda: _read_refined(out),
    )  # fmt: skip

    # ---- R-factor
    rf_key = runner.key("rfactor", runner.content("refine"), runner.content("prepare"))
    rfac = runner.stage("rfactor", rf_key, lambda: _rfactor(model, measured, out), lambda: _read_rfactor(out))

    # ---- analyse (a model it cannot analyse costs the run its analysis, not its result)
    analysis = None
    if cfg.analyse.enabled:
        an_key = runner.key("analyse", to_table(cfg.analyse), runner.content("refine"))
        try:
            analysis = runner.stage("analyse", an_key, lambda: _analyse(model, cfg.analyse, out, not quiet),
                                    lambda: _read_analysis(out))  # fmt: skip
        except AetInputError as exc:
            log.warning(f"analyse: skipped: {exc}")
    else:
        log.info("analyse: off ([analyse] enabled = false)")

    # ---- summary and report (always rewritten: cheap)
    runner.current = "report"
    summary = _summary(cfg, ts, model, traced, refine_report, rfac, runner, truth, time.perf_counter() - t_start,
                       None if analysis is None else _analysis_record(analysis),
                       guard=None if guard_report is None else guard_report.to_dict(),
                       adapt=_adapt_record(adapt_report))  # fmt: skip
    with atomic_paths(out / "summary.json") as (tmp,):
        dump_json(summary.to_dict(), tmp)
    t = time.perf_counter()
    from aet.pipeline.report import write_report

    write_report(out / "report.html", summary, tomogram, augmented, model, measured, rfac.calculated,
                 list(rfac.R1_per_projection), truth=truth, analysis=analysis)  # fmt: skip
    log.info(f"report: wrote {out / 'report.html'} in {time.perf_counter() - t:.1f} s")
    del uncertainty
    return RunResult(out, summary, model, runner.skipped)


def _check_settings(cfg: RunConfig) -> None:
    """The checks a setting needs beyond its own type and range, all before any work: the device, the network,
    the files settings name, and consent for code named in [prepare]."""
    from aet.device import resolve_device
    from aet.nn.weights import resolve

    try:
        resolve_device(cfg.run.device)
        if cfg.augment.enabled:
            resolve(cfg.augment.model)
        if cfg.reconstruct.inpaint:
            from aet.nn.inpaint import parse_angles

            resolve(cfg.reconstruct.inpaint_model)
            parse_angles(cfg.reconstruct.inpaint)
    except AetError as err:
        raise AetUsageError(str(err)) from None
    if cfg.prepare.support == "remove" and cfg.prepare.sample == "film":
        raise AetUsageError("[prepare] support = \"remove\" is for a particle on a support film, but [prepare] sample "
                            "= \"film\"; set support = \"keep\", or sample = \"particle\" or \"auto\".")  # fmt: skip
    if cfg.subareas.enabled and cfg.reconstruct.inpaint:
        raise AetUsageError("[reconstruct] inpaint predicts a particle's projections; sub-areas are parts of a film. "
                            "Set inpaint = none.")  # fmt: skip
    if cfg.refine.warm_start is not None and not Path(cfg.refine.warm_start).is_file():
        raise AetUsageError(f"[refine] warm_start names {cfg.refine.warm_start}, which is not a file; give the "
                            "atoms.xyz of an earlier time point.")  # fmt: skip
    if cfg.subareas.enabled and cfg.augment.enabled and cfg.augment.adapt:
        raise AetUsageError("[augment] adapt does not work with sub-areas yet; adapt once with aet adapt on one "
                            "sub-area's series and give the weights as [augment] model.")  # fmt: skip
    if cfg.subareas.enabled and cfg.subareas.centres is not None and not Path(cfg.subareas.centres).is_file():
        raise AetUsageError(f"[subareas] centres names {cfg.subareas.centres}, which is not a file; give a text file "
                            "with 'x y' or 'x y z' in Å per line, or leave it out for a grid.")  # fmt: skip
    for table, support in (("reconstruct", cfg.reconstruct.support), ("trace", cfg.trace.support)):
        if support not in (None, "auto") and not Path(support).is_file():
            raise AetUsageError(f"[{table}] support names {support}, which is not a file; give a mask volume or auto.")
    for what, name in (("denoise", cfg.prepare.denoise), ("align", cfg.prepare.align)):
        if name is not None and ":" in name and not cfg.run.allow_code:
            raise AetUsageError(
                f"[prepare] {what} = {name!r} would run Python code from the config; allow it with --allow-code "
                "(or [run] allow_code = true) if you trust it."
            )


# ------------------------------------------------------------------------------------------------ stages


class _Stages:
    """Runs or skips stages by key, times them and keeps their records in ``DIR/.aet``.

    A stage's result is always what its files hold (read back after it ran, or read when it is skipped), so the
    stages after it see the same data whether the run was interrupted and resumed or not.
    """

    def __init__(self, out: Path, log: logging.Logger, force: bool, progress: bool) -> None:
        self.out, self.log, self.force, self.progress = out, log, force, progress
        self.timings: dict[str, float] = {}
        self.skipped: list[str] = []
        self.current: str | None = None

    @staticmethod
    def key(name: str, *parts: Any) -> str:
        text = json.dumps([name, *parts], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def content(self, name: str) -> str:
        """Hash of the content of stage ``name``'s output files (what the next stage reads)."""
        h = hashlib.sha256()
        for f in OUTPUTS[name]:
            h.update(_file_hash(self.out / f).encode())
        return h.hexdigest()[:16]

    def stage(self, name: str, key: str, compute: Callable[[], Any], load: Callable[[], Any]) -> Any:
        self.current = name
        record = self.out / ".aet" / f"{name}.json"
        outputs = [self.out / f for f in OUTPUTS[name]]
        if not self.force and record.exists() and all(p.exists() for p in outputs):
            earlier = json.loads(record.read_text())
            if earlier.get("key") == key:
                self.log.info(f"{name}: unchanged, skipped (outputs from an earlier run)")
                self.skipped.append(name)
                self.timings[name] = float(earlier.get("seconds", 0.0))  # what the stage took when it ran
                return load()
        record.unlink(missing_ok=True)  # outputs are about to change: the old record no longer vouches for them
        self.log.info(f"{name}: started")
        t = time.perf_counter()
        compute()
        self.timings[name] = round(time.perf_counter() - t, 3)
        with atomic_paths(record) as (tmp,):
            dump_json({"key": key, "seconds": self.timings[name], "outputs": OUTPUTS[name]}, tmp)
        self.log.info(f"{name}: done in {self.timings[name]:.1f} s")
        return load()


def _read_tilts(source: Path | TiltSeries, inp: InputSettings) -> TiltSeries:
    if isinstance(source, TiltSeries):
        ts = source
    else:
        ts = aet.io.read_tilt_series(source, key=inp.key, angles=inp.angles, pixel_size=inp.pixel_size,
                                     euler_convention=inp.euler, angles_key=inp.angles_key)  # fmt: skip
    if "pixel_size" not in _stated(source, inp) and ts.pixel_size == 1.0:
        raise AetInputError("the pixel size is unknown; give it with --pixel-size (Å).")
    if any(ts.metadata.get("predicted") or ()):
        raise AetInputError(
            "this tilt series holds projections predicted by `aet inpaint` (metadata 'predicted'); aet run would "
            "align, refine and score against them as if measured. Give the measured series and set "
            "[reconstruct] inpaint, which keeps the predicted projections to the reconstruction."
        )
    return ts


def _stated(source: Path | TiltSeries, inp: InputSettings) -> set[str]:
    """Which geometry facts the user or the file stated (the readers default the pixel size to 1 Å)."""
    stated = set()
    if isinstance(source, TiltSeries) or inp.pixel_size is not None:
        stated.add("pixel_size")
    elif Path(str(source) + ".json").exists() or source.suffix.lower() in (".mrc", ".h5", ".hdf5", ".npz"):
        stated.add("pixel_size")
    return stated


def check_pixel_size(pixel_size: float, elements: list[str], force: bool = False) -> str | None:
    """Refuse a pixel size outside :data:`PIXEL_RANGE` unless ``force``; warn (and return the sentence) when
    nearest neighbours would be fewer than 1 or more than 30 pixels apart: a pixel size in the wrong unit."""
    low, high = PIXEL_RANGE
    if not force and not low <= pixel_size <= high:
        raise AetUsageError(
            f"a pixel size of {pixel_size:g} Å is outside {low:g}–{high:g} Å (nm or pm?); give it in Å with "
            "--pixel-size, or accept it with --force-pixel-size."
        )
    bond = min(nearest_neighbour_distance(e) for e in elements)
    pixels = bond / pixel_size
    if 1.0 <= pixels <= 30.0:
        return None
    message = (
        f"with a pixel size of {pixel_size:g} Å, neighbouring {'/'.join(elements)} atoms ({bond:.2f} Å apart) "
        f"would be {pixels:.2g} pixels apart (usually 1–30), so check that the pixel size is in Å, not nm or pm."
    )
    warnings.warn(message, AetPixelSizeWarning, stacklevel=2)
    return message


def _prepare(ts: TiltSeries, p: PrepareSettings, out: Path, progress: bool, given_axis: float | None) -> TiltSeries:
    """Denoise, background, normalisation, then alignment; ``given_axis`` is the tilt axis the user or the file
    states (degrees; None: unknown)."""
    ts = replace(ts, tilt_axis=0.0)
    measured = images = ts.images.astype(np.float64)
    # denoising first, on the images as measured (BM3D's variance-stabilising transform needs the raw counts; the
    # Gaussian and median filters commute with the per-image offset and scale below). The denoised images serve the
    # reconstruction and the trace; refinement and the R-factor fit the images without denoising (`measured`, with
    # the same background, scale and alignment): a denoiser's bias is no measurement (asi208 at 8e3 e/Å²: traced on
    # BM3D, refined against the raw images 18.0 pm, against the denoised ones 18.8 pm)
    if p.denoise in DENOISERS:
        images = denoise(images, p.denoise, p.denoise_sigma, ts.pixel_size, progress, p.denoise_strength)
    else:
        images = _hook(p.denoise, "denoise", images, ts)
    denoised = images is not measured
    sample, evidence = (p.sample, {}) if p.sample != "auto" else detect_sample(ts)
    if p.support == "remove":
        images, measured, evidence["support_fit"] = _without_support(images, measured, sample, ts.pixel_size,
                                                                 p.support_margin)  # fmt: skip
    if p.align in ("auto", "always"):  # before the background and the totals, which noise would fail less clearly
        check_object(images)
    if p.background and sample == "particle":  # a film has no empty border to take the background from
        images, measured = without_background(images), without_background(measured)
    # one dose for every image: a particle's total is the same at every tilt. A film's is no invariant (each tilt sees
    # another stretch of film through the field of view): scaling it to total × cos θ took the Ta film's final R1
    # against the measured images from 0.3003 to 0.3048 (docs/benchmarks.md), so a film keeps its measured scale
    if p.normalise and sample == "particle":
        totals = images.sum(axis=(1, 2))
        if np.any(totals <= 0):
            i = int(np.argmin(totals))
            raise AetInputError(
                f"image {i} (θ = {ts.tilt_angles[i]:.1f}°) has no positive signal"
                + (" after background removal" if p.background else "")
                + "; check that image, or set [prepare] normalise = false."
            )
        factor = (totals.mean() / totals)[:, None, None]
        images, measured = images * factor, measured * factor
    found = to_table(p) | {"sample_found": sample, **evidence}
    normalised = replace(ts, images=images.astype(np.float32), metadata={**ts.metadata, "prepare": found})
    prepared, same = _align(normalised, p.align, sample, given_axis)
    aet.io.write(prepared, out / ".aet/prepared.npz", overwrite=True)
    undenoised = out / ".aet/measured.npz"
    if denoised:
        aet.io.write(replace(prepared, images=same(measured).astype(np.float32)), undenoised, overwrite=True)
    else:
        undenoised.unlink(missing_ok=True)
    return prepared


def _without_support(images: np.ndarray, measured: np.ndarray, sample: str, pixel_size: float,
                     margin: float) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """``[prepare] support = "remove"``: the film model of :func:`aet.prepare.support.remove_support` fitted to the
    (denoised) images and subtracted from both copies; and a summary for the record."""
    if sample != "particle":
        raise AetInputError(
            "[prepare] support = \"remove\" is for a particle on a support film, but this series is a film itself "
            "(it fills the field of view and brightens as 1/cos θ); set support = \"keep\", or sample = \"particle\" "
            "if it is a particle."
        )
    others = (measured,) if measured is not images else ()
    cleaned, rest, fit = remove_support(images, pixel_size, margin, others)
    found = fit.to_dict()
    summary = {"margin_A": margin, "footprint_fraction_mean": round(float(np.mean(fit.footprint_fraction)), 4),
               "lattice_peaks_max": int(fit.peaks.max()), **found}  # fmt: skip
    return cleaned, (rest[0] if rest else cleaned), summary


def _measured(prepared: TiltSeries, out: Path) -> TiltSeries:
    """The prepared series without denoising (``.aet/measured.npz``, written when a denoiser ran), else itself: what
    refinement and the R-factor fit."""
    path = out / ".aet/measured.npz"
    return aet.io.read_tilt_series(path) if path.exists() else prepared


def _align(ts: TiltSeries, name: str | None, sample: str,
           given_axis: float | None) -> tuple[TiltSeries, Callable[[np.ndarray], np.ndarray]]:  # fmt: skip
    """The series aligned as ``[prepare] align`` says, and the same correction as a function of ``[n, rows, cols]``
    images (for the images without denoising); a tilt axis the user or the file gives is always honoured."""
    skip = None
    if name == "auto":
        if "alignment" in ts.metadata:
            skip = "the series was aligned by aet already"
        elif not ts.is_single_axis(tol_deg=0.01):
            skip = "the Euler angles carry in-plane terms, so the series comes from an alignment already"
        elif sample == "film":
            skip = "a film: aet's alignment needs an object inside the field of view; give an aligned series"
    searched, result = name in ("auto", "always") and skip is None, None
    if searched:
        ts, result = align_series(ts, given_axis, sample)
    elif given_axis:  # stated geometry is honoured whatever the alignment setting
        ts, result = rotate_series(ts, given_axis, sample)

    def same(images: np.ndarray) -> np.ndarray:
        return images if result is None else apply_alignment(images, result, ts.pixel_size)

    if searched:
        return ts, same
    if name in (None, "auto"):
        return replace(ts, metadata={**ts.metadata, "prepare": {**ts.metadata["prepare"], "align_skipped": skip}}), same
    images = _hook(name, "align", ts.images.astype(np.float64), ts)

    def hooked(other: np.ndarray) -> np.ndarray:  # a user's function measures from the images it gets: each copy
        return _hook(name, "align", same(other), ts)

    return replace(ts, images=images.astype(np.float32)), hooked


def _alignment_line(ts: TiltSeries) -> str:
    a = ts.metadata.get("alignment")
    if a is None:
        skipped = ts.metadata.get("prepare", {}).get("align_skipped")
        return f"not aligned ({skipped})" if skipped else "not aligned ([prepare] align)"
    line = f"tilt axis {a['tilt_axis']:.2f}° ({a['axis_source']})"
    if a.get("axis_contrast") == a.get("axis_contrast"):  # not NaN: shifts were measured
        line += (f", shifts {a['shift_rms']:.2f} Å RMS in {a['iterations']} rounds of projection matching "
                 f"(last update {a['last_update']:.3f} Å)")  # fmt: skip
    line += "" if a["applied"] else "; corrections negligible, images unchanged"
    return line + "".join(f"; {note}" for note in a.get("notes", []))


def _hook(name: str | None, what: str, images: np.ndarray, ts: TiltSeries) -> np.ndarray:
    """Built-in alignment, or a user function named "package.module:function"."""
    if name is None:
        return images
    if what == "align" and name == "centre-of-mass":
        return _centre_of_mass(images)
    if ":" not in name:
        raise AetInputError(f"unknown {what} {name!r}; use none, a built-in, or 'package.module:function'.")
    module, func = name.split(":", 1)
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as err:
        raise AetInputError(f"cannot load the {what} hook {name!r}: {err}") from err
    args = (images, ts.pixel_size) if what == "denoise" else (images, ts.angles, ts.pixel_size)
    try:
        result = np.asarray(fn(*args), dtype=np.float64)
    except Exception as err:  # the user's code: any failure is reported as theirs, in one line
        raise AetInputError(f"the {what} hook {name!r} failed: {type(err).__name__}: {err}") from err
    if result.shape != images.shape:
        raise AetInputError(f"the {what} hook {name!r} returned shape {result.shape}, expected {images.shape}.")
    return result


def _centre_of_mass(images: np.ndarray) -> np.ndarray:
    """Shift every image so that its centre of mass sits at the rotation centre (pixel n//2)."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        com = ndimage.center_of_mass(np.clip(img, 0, None))
        shift = [n // 2 - c for n, c in zip(img.shape, com, strict=True)]
        out[i] = ndimage.shift(img, shift, order=1, mode="constant")
    return out


def _read_prepared(out: Path) -> TiltSeries:
    return aet.io.read_tilt_series(out / ".aet/prepared.npz")


def _mask(support: str | None) -> Volume | None:
    """The mask volume a support setting names as a file, else None (``"auto"`` and none are the stage's)."""
    return None if support is None or support == "auto" else aet.io.read_volume(support)


def _tomogram(ts: TiltSeries, r: ReconstructSettings, method: MethodSettings, device: str,
              progress: bool = False) -> Volume:  # fmt: skip
    """``ts`` reconstructed with the run's settings: the tomogram, the adaptation's inputs, the guard's difference
    map (with ``r`` changed)."""
    return aet.reconstruct(ts, settings=r, method_settings=method, support_mask=_mask(r.support), device=device,
                           progress=progress)  # fmt: skip


def _inpaint(ts: TiltSeries, r: ReconstructStage, device: str, out: Path, log: logging.Logger) -> None:
    """``[reconstruct] inpaint``: the prepared series with predicted projections appended (aet.nn.inpaint), written
    to ``tilts_inpainted.npz`` (the measured images first and unchanged; ``predicted`` marks the others)."""
    from aet.nn.inpaint import inpaint, parse_angles

    if ts.metadata.get("prepare", {}).get("sample_found") == "film":
        raise AetInputError("[reconstruct] inpaint predicts a particle's projections; this series is a film (it fills "
                            "the field of view). Set inpaint = none.")  # fmt: skip
    extended = inpaint(ts, parse_angles(r.inpaint or ""), r.inpaint_model, device=device)
    added = extended.n_images - ts.n_images
    log.info(f"inpaint: {added} projections predicted by {r.inpaint_model} ({r.inpaint}); the reconstruction uses "
             f"{extended.n_images} images, refinement and the R-factor the {ts.n_images} measured")  # fmt: skip
    aet.io.write(extended, out / OUTPUTS["inpaint"][0], overwrite=True)


def _reconstruct(ts: TiltSeries, r: ReconstructSettings, method: MethodSettings, device: str, out: Path,
                 progress: bool) -> Volume:  # fmt: skip
    vol = _tomogram(ts, r, method, device, progress)
    aet.io.write(vol, out / "tomogram.mrc", overwrite=True)
    return vol


def _check_reconstruction_matches(model: str, r: ReconstructSettings, method: MethodSettings,
                                  log: logging.Logger) -> None:  # fmt: skip
    from aet.nn.augment import reconstruction_mismatch
    from aet.nn.weights import load

    given = {"method": r.method, "iterations": getattr(method, "iterations", None), "support": r.support,
             "positivity": r.positivity}  # fmt: skip
    message = reconstruction_mismatch(given, load(model)[1])
    if message:
        log.warning(message)


def _adapt(ts: TiltSeries, cfg: RunConfig, device: str, out: Path, progress: bool, log: logging.Logger, key: str,
           fresh: bool, source: str) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the network on the prepared series (:func:`aet.nn.adapt.adapt`), its inputs reconstructed as the
    run reconstructs; the refinement's R_free images take no part. Checkpoints go to ``.aet/adapt/KEY``, so an
    interrupted adaptation with the same settings resumes with the rest of its budget (``fresh``: start over)."""
    import shutil

    from aet.nn import weights
    from aet.nn.adapt import adapt
    from aet.refinement import free_images

    work = out / ".aet" / "adapt"
    if fresh or (work.exists() and not (work / key).exists()):  # checkpoints of other settings cannot be resumed
        shutil.rmtree(work, ignore_errors=True)
    net, card, report = adapt(ts, cfg.augment.model, cfg.adapt, device=device,
                              reconstruct=lambda sub: _tomogram(sub, cfg.reconstruct, cfg.method, device),
                              exclude=free_images(ts.n_images, cfg.refine.free_fraction), progress=progress,
                              workdir=work / key, source=source)  # fmt: skip
    weights.save(net, card, out / OUTPUTS["adapt"][0])
    shutil.rmtree(work, ignore_errors=True)  # done: the checkpoints have served
    log.info(f"adapt: {report.steps} steps in {report.seconds:.0f} s; held-out misfit {report.check_before:.4f} -> "
             f"{report.check_best:.4f} (kept step {report.best_step})")  # fmt: skip
    return card.extra["adaptation"]


def _read_adapted(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / OUTPUTS["adapt"][1]).read_text())["adaptation"])


def _augment(tomogram: Volume, a: AugmentStage, device: str, out: Path, progress: bool) -> tuple[Volume, Volume]:
    from aet.nn.augment import augment

    with warnings.catch_warnings():  # a reconstruction mismatch was already logged before the stage started
        warnings.simplefilter("ignore", UserWarning)
        vol, unc = augment(tomogram, settings=a, device=device, progress=progress,
                           return_uncertainty=True)  # fmt: skip
    aet.io.write(vol, out / "tomogram_augmented.mrc", overwrite=True)
    aet.io.write(unc, out / "tomogram_uncertainty.mrc", overwrite=True)
    return vol, unc


def _trace(augmented: Volume | None, tomogram: Volume, elements: list[str], t: TraceSettings, out: Path,
           log: logging.Logger) -> AtomicModel:  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = trace_output(augmented, tomogram, elements, t, support_mask=_mask(t.support))
    for w in caught:
        log.warning(f"trace: {w.message}")
    if len(model) == 0:
        raise AetInputError(
            "no atoms were traced; check the pixel size, the elements and the reconstruction (tomogram.mrc)."
        )
    aet.io.write(model, out / "atoms_traced.xyz", overwrite=True)
    log.info(f"trace: {len(model)} atoms ({', '.join(f'{e} {model.elements.count(e)}' for e in model.species)})")
    return model


def _inside(model: AtomicModel, ts: TiltSeries, log: logging.Logger, stage: str) -> AtomicModel:
    """The traced atoms that the images can refine: a particle's project inside every image, so one outside at some
    tilt is a missing-wedge streak at the edge of the volume; a film's atoms leave the field of view at high tilt,
    and are refined while some image sees them."""
    film = ts.metadata.get("prepare", {}).get("sample_found") == "film"
    inside = (in_some_image if film else inside_field_of_view)(model.positions, ts)
    if not inside.all():
        where = "in no image" if film else "outside the images at some tilt (missing-wedge streaks at the edge)"
        log.warning(f"{stage}: {int((~inside).sum())} traced atoms project {where} and were dropped.")
        model = model.subset(inside)
    return model


def _guard(traced: AtomicModel, tomogram: Volume, elements: list[str], cfg: RunConfig, measured: TiltSeries,
           device: str, out: Path, log: logging.Logger) -> None:  # fmt: skip
    """The guard (:mod:`aet.pipeline.guard`): the tomogram traced as without a network, both traces against the
    measured projections; writes atoms_checked.xyz and .aet/guard_report.json."""
    from aet.pipeline.guard import guard

    with warnings.catch_warnings():  # the network trace's warnings were logged by the trace stage
        warnings.simplefilter("ignore")
        try:
            plain = trace_output(None, tomogram, elements, cfg.trace, support_mask=_mask(cfg.trace.support))
        except AetError as err:  # e.g. species the tomogram alone cannot tell apart: the network's trace stands alone
            log.warning(f"guard: the tomogram itself could not be traced ({err}); only the network's trace is checked")
            plain = AtomicModel(np.zeros((0, 3)), [])
    network, plain = _inside(traced, measured, log, "guard"), _inside(plain, measured, log, "guard")

    def difference_map(residual: TiltSeries) -> Volume:  # reconstructed as the tomogram was, signed
        return _tomogram(residual, replace(cfg.reconstruct, positivity=False), cfg.method, device)

    checked, report = guard(network, plain, measured, cfg.refine, difference_map, elements, cfg.trace.min_distance,
                            device)  # fmt: skip
    (log.info if report.decision == "network" else log.warning)(f"guard: {report.sentence()}")
    aet.io.write(checked, out / "atoms_checked.xyz", overwrite=True)
    with atomic_paths(out / ".aet/guard_report.json") as (tmp,):
        dump_json(report.to_dict(), tmp)


def _read_guard(out: Path) -> tuple[AtomicModel, Any]:
    from aet.pipeline.guard import GuardReport

    saved = json.loads((out / ".aet/guard_report.json").read_text())
    return aet.io.read_model(out / "atoms_checked.xyz"), GuardReport.from_dict(saved)


def _refine(model: AtomicModel, ts: TiltSeries, r: RefineStage, device: str, out: Path, progress: bool,
            log: logging.Logger) -> tuple[AtomicModel, RefineReport | None]:  # fmt: skip
    model = _inside(model, ts, log, "refine")
    if r.warm_start:
        from aet.tracking import warm_start

        model, n = warm_start(model, aet.io.read_model(r.warm_start))
        log.info(f"refine: {n} of {len(model)} traced atoms start from the refined atoms of {r.warm_start}")
    if r.enabled:
        refined, report = aet.refine(model, ts, r, device=device, progress=progress)
        log.info(f"refine: R1 {report.before.R1:.4f} -> {report.after.R1:.4f}" + (
            "" if (free := free_summary(report)) is None else
            f"; R_free of {len(free['free_images'])} held-out projections {free['R_free_before']:.4f} -> "
            f"{free['R_free_after']:.4f} (kept outer iteration {free['best_iteration']}, stopped: {free['stopped']})"
        ) + ("; one B and H per atom" if report.per_atom else ""))  # fmt: skip
        seen = in_some_image(refined.positions, ts)
        if not seen.all():  # moved out of every image: nothing measured constrains them any more
            log.warning(f"refine: {int((~seen).sum())} atoms moved out of every image and were dropped.")
            refined = refined.subset(seen)
    else:
        refined, report = model, None
    for suffix in ("xyz", "csv"):
        aet.io.write(refined, out / f"atoms.{suffix}", overwrite=True)
    with atomic_paths(out / ".aet/refine_report.json") as (tmp,):
        dump_json({"skipped": True} if report is None else report.to_dict(), tmp)
    return refined, report


def _read_refined(out: Path) -> tuple[AtomicModel, RefineReport | None]:
    saved = json.loads((out / ".aet/refine_report.json").read_text())
    return aet.io.read_model(out / "atoms.xyz"), None if saved.get("skipped") else RefineReport.from_dict(saved)


def _rfactor(model: AtomicModel, ts: TiltSeries, out: Path) -> RFactors:
    rf = aet.rfactor(model, ts, calculated=True)
    with atomic_paths(out / ".aet/rfactor.npz") as (tmp,):
        np.savez(tmp, calculated=rf.calculated, r1_per_projection=np.asarray(rf.R1_per_projection),
                 scalars=np.array([rf.R1, rf.R1_mean, rf.R2]), fit=np.array(rf.fit))  # fmt: skip
    return rf


def _read_rfactor(out: Path) -> RFactors:
    with np.load(out / ".aet/rfactor.npz", allow_pickle=False) as f:
        r1, r1_mean, r2 = (float(v) for v in f["scalars"])
        return RFactors(r1, r1_mean, r2, tuple(f["r1_per_projection"].tolist()), str(f["fit"]), f["calculated"])


def _analyse(model: AtomicModel, a: AnalyseStage, out: Path, progress: bool) -> None:
    from aet.analysis import analyse, write_analysis

    found = analyse(model, a.lattice_constant, a.cutoff, a.strain_radius, progress=progress)
    write_analysis(out / "analysis", model, found, overwrite=True)


def _read_analysis(out: Path) -> Analysis:
    atoms = ase.io.read(out / "analysis/atoms.xyz", format="extxyz", index=0)
    summary = json.loads((out / "analysis/analysis.json").read_text())
    # ase leaves Atoms.arrays unannotated in places; it is a plain dict of arrays
    per_atom = {k: np.asarray(v) for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}  # type: ignore[union-attr]
    return Analysis(per_atom, summary, list(summary.get("notes", [])))


def _analysis_record(analysis: Analysis) -> dict[str, Any]:
    """The key figures of the analysis for summary.json (the whole of it is in analysis/analysis.json)."""
    s = analysis.summary
    record: dict[str, Any] = {
        "structure": s["structure"]["counts"],
        "twin_atoms": s["structure"]["twin_atoms"],
        "grains": len(s.get("grains", [])),
        "first_rdf_peak_A": s["neighbours"]["rdf"]["first_peak_A"],
        "mean_coordination": s["neighbours"]["mean_coordination"],
    }
    if "facets" in s:
        record["facet_area_fractions"] = s["facets"]["area_fractions"]
    if "l10_order" in s.get("chemistry", {}):
        record["l10_order_S"] = s["chemistry"]["l10_order"]["S"]
    record["notes"] = analysis.notes
    return record


# ------------------------------------------------------------------------------------------------ helpers


def _summary(cfg: RunConfig, ts: TiltSeries, model: AtomicModel, traced: AtomicModel,
             refine_report: RefineReport | None, rfac: RFactors, runner: _Stages, truth: AtomicModel | None,
             seconds: float, analysis: dict[str, Any] | None = None,
             subareas: dict[str, Any] | None = None, guard: dict[str, Any] | None = None,
             adapt: dict[str, Any] | None = None) -> RunSummary:  # fmt: skip
    comparisons: dict[str, Any] = {}
    if truth is not None:
        from aet.metrics import compare

        comparisons = {"comparison": compare(model, truth, radius=0.9),
                       "comparison_traced": compare(traced, truth, radius=0.9)}  # fmt: skip
    return RunSummary.counting(
        model,
        atoms_traced=len(traced),
        rfactors=rfac,
        refinement_r1=None if refine_report is None else (refine_report.before.R1, refine_report.after.R1),
        refinement_free=None if refine_report is None else free_summary(refine_report),
        tilt_series=TiltSeriesFacts.of(ts),
        timings_s=dict(runner.timings),
        total_s=seconds,
        skipped_stages=tuple(runner.skipped),
        seed=cfg.run.seed,
        alignment=_alignment_record(ts),
        analysis=analysis,
        subareas=subareas,
        guard=guard,
        adapt=adapt,
        **comparisons,
    )


def _adapt_record(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The adaptation's figures for summary.json (the image lists and the settings stay in the card)."""
    if report is None:
        return None
    keys = ("base_model", "method", "steps", "seconds", "best_step", "check_before", "check_best", "sigma_A")
    return {k: report[k] for k in keys if k in report} | {"weights": OUTPUTS["adapt"][0]}


def _alignment_record(ts: TiltSeries) -> dict[str, Any] | None:
    if "alignment" in ts.metadata:
        return dict(ts.metadata["alignment"])
    skipped = ts.metadata.get("prepare", {}).get("align_skipped")
    return None if skipped is None else {"applied": False, "skipped": skipped}


def _fingerprint(ts: TiltSeries, images_only: bool = False) -> str:
    h = hashlib.sha256(np.ascontiguousarray(ts.images).tobytes())
    if not images_only:
        h.update(np.ascontiguousarray(ts.angles).tobytes())
        h.update(f"{ts.pixel_size}{ts.euler_convention}".encode())
    return h.hexdigest()[:16]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _logger(out: Path, quiet: bool) -> logging.Logger:
    """A logger writing to DIR/log.txt (always) and, unless quiet, to the console."""
    log = logging.getLogger(f"aet.run.{out.resolve()}")
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    fh = logging.FileHandler(out / "log.txt", encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(fh)
    if not quiet:
        from rich.logging import RichHandler

        log.addHandler(RichHandler(show_path=False, show_time=False))
    return log
