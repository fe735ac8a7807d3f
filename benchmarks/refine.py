"""Refinement speed: seconds per outer iteration of ``aet.refine`` for Pt particles of ≈10,000 and ≈100,000 atoms.

Run: .venv/bin/python benchmarks/refine.py [--cases 6.6:256 14.2:512] [--tilts 60] [--iterations 3] [--budget 360]
[--threads 2]

Each case ``d:px`` is a crystalline Pt sphere ``build_model("sphere", ["Pt"], d)`` (6.6 nm: 9,976 atoms, 14.2 nm:
99,660 atoms) and a simulated tilt series of ``--tilts`` projections ``tilt_range(-70, 70, 140 / (tilts − 1))`` of
px² pixels of 0.357 Å (``Acquisition(pixel_size=0.357, image_size=px, dose=1e5, seed=0)``: B = 5 Å², Poisson noise).
512 px × 0.357 Å = 183 Å holds the 14.2 nm sphere at every tilt (it needs 420 px), 256 px the 6.6 nm one (208 px),
so the pixel size stays the usual one. ``refine`` gets the truth displaced by a Gaussian of 0.3 Å per axis and runs
with its defaults (angle correction on) but ``hb_iterations=0``, ``free_fraction=0`` (every evaluation fits all the
images), ``iterations=--iterations``, ``progress=False``.

What is timed, with thin wrappers around the functions ``refine`` calls (looked up in ``aet.refine``'s globals):
``misfit_and_grad`` (one evaluation of ε and its gradient; split further by wrapping ``forward.project``: the
projection of each group of images with its graph, and the backward pass + rest; since issue 23 no projection runs
without a graph, as the projector's hand-written backward needs no second pass) and
``_step`` (one L-BFGS step; an outer iteration is its position step plus its angle step). s / outer iteration is the
median over the outer iterations run. A case stops early to stay within ``--budget`` seconds of iterations: after
its first evaluation when that evaluation × the evaluations per outer iteration (of the previous case, else 12)
exceeds the budget (then s / outer iteration is that estimate, marked ``~``), or after an outer iteration when one
more would pass the budget. R1 before is that of the first evaluation (the start model: refine's "before"), R1 after
the one refine logs for its last complete step (its "after" when it runs to the end). Peak RSS is ``ru_maxrss`` of
this process after the case (cases run smallest first, so it is that case's peak).

On a shared machine run it as ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/refine.py``: with another busy
process on the same cores, OpenMP's spinning waits made the evaluations 3–30× slower (2 threads on 2 shared cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable

import numpy as np
import torch
from _common import report

import aet
import aet.refinement as refine_module
import aet.refinement.forward as forward_module
from aet.model import AtomicModel, TiltSeries
from aet.simulate import Acquisition, simulate_tilt_series, tilt_range
from aet.simulate.structures import build_model

PIXEL = 0.357  #: Å
DOSE = 1e5  #: e/Å² per projection
DISPLACEMENT = 0.3  #: Å, σ per axis of the random error given to the model
MAX_EVALS_PER_ITERATION = 12  #: two L-BFGS steps (positions, angles) of at most 5 × 1.25 = 6 evaluations


class _Stop(Exception):
    """Raised from a wrapper to end a refinement that would pass the time budget."""


class Timer:
    """Wraps ``misfit_and_grad``, ``_step`` and ``project`` of one ``refine`` call and records their wall times."""

    def __init__(self, budget: float, evals_per_iteration: float) -> None:
        self.budget, self.evals_per_iteration = budget, evals_per_iteration
        self.evals: list[float] = []  #: seconds per misfit_and_grad call
        self.steps: list[tuple[str, float, int]] = []  #: (stage, seconds, evaluations) per L-BFGS step
        self.project = {"no_grad": 0.0, "graph": 0.0}  #: seconds of forward.project inside the evaluations
        self.start = time.perf_counter()  #: reset when refine is called
        self.first_eval: float | None = None  #: perf_counter at the start of the first evaluation
        self.in_eval = False
        self.r1_start: float | None = None  #: R1 of the first evaluation (the start model: refine's R1 before)
        self.r1_last: float | None = None  #: R1 logged by the last complete L-BFGS step
        self.stopped: str | None = None

    def iterations(self) -> list[tuple[float, int]]:
        """(seconds, evaluations) per complete outer iteration (a position step and the steps after it)."""
        out: list[list[float]] = []
        for stage, sec, n in self.steps:
            if stage == "positions":
                out.append([0.0, 0])
            if out:
                out[-1][0] += sec
                out[-1][1] += n
        return [(s, int(n)) for s, n in out]

    def wrap_misfit(self, fn: Callable) -> Callable:
        def inner(*args, **kwargs):
            t = time.perf_counter()
            if self.first_eval is None:
                self.first_eval = t
            self.in_eval = True
            try:
                out = fn(*args, **kwargs)
            finally:
                self.in_eval = False
            self.evals.append(time.perf_counter() - t)
            if self.r1_start is None:
                meas = args[1]
                if len(args) > 4 and args[4] is not None:  # the images in the fit (the others are held out)
                    meas = meas[torch.as_tensor(args[4])]
                self.r1_start = float((out[1] - meas).abs().sum() / meas.abs().sum())
            if len(self.evals) == 1 and self.evals[0] * self.evals_per_iteration > self.budget:
                self.stopped = "after 1 evaluation"
                raise _Stop
            return out

        return inner

    def wrap_step(self, fn: Callable) -> Callable:
        def inner(opt, geo, meas, p, expand, log, advance, stage, *rest):  # noqa: ANN001
            n0, t = len(self.evals), time.perf_counter()
            fn(opt, geo, meas, p, expand, log, advance, stage, *rest)
            self.steps.append((stage, time.perf_counter() - t, len(self.evals) - n0))
            self.r1_last = log[-1].R1
            its = self.iterations()
            if stage != "positions" and its and self.first_eval is not None:
                spent = time.perf_counter() - self.first_eval
                if spent + float(np.median([s for s, _ in its])) > self.budget:
                    self.stopped = f"after {len(its)} outer iteration(s)"
                    raise _Stop

        return inner

    def wrap_project(self, fn: Callable) -> Callable:
        def inner(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.in_eval:  # predict() in refine's set-up and wrap-up calls project too
                    self.project["graph" if torch.is_grad_enabled() else "no_grad"] += time.perf_counter() - t

        return inner


def timed_refine(model: AtomicModel, ts: TiltSeries, iterations: int, timer: Timer) -> tuple[dict | None, float]:
    """``aet.refine`` with the timing wrappers in place: its report (None when stopped) and its wall time."""
    saved = {
        (refine_module, "misfit_and_grad"): timer.wrap_misfit,
        (refine_module, "_step"): timer.wrap_step,
        (forward_module, "project"): timer.wrap_project,
    }
    originals = {key: getattr(*key) for key in saved}
    for (mod, name), wrap in saved.items():
        setattr(mod, name, wrap(originals[mod, name]))
    t = timer.start = time.perf_counter()
    try:
        # R_free off: every evaluation fits all the images, as in the tables before issue 23
        _, rep = aet.refine(model, ts, iterations=iterations, hb_iterations=0, free_fraction=0, progress=False)
    except _Stop:
        rep = None
    finally:
        wall = time.perf_counter() - t
        for (mod, name), fn in originals.items():
            setattr(mod, name, fn)
    return rep, wall


def _loadavg() -> float | None:
    """The 1-minute load average (the machine may be shared; a load above the threads used slows torch a lot)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def case(size_nm: float, px: int, n_tilts: int) -> tuple[AtomicModel, AtomicModel, TiltSeries, float]:
    """The true sphere, the displaced start model, the simulated series and the simulation time."""
    truth = build_model("sphere", ["Pt"], size_nm)
    angles = tilt_range(-70, 70, 140 / (n_tilts - 1))
    t = time.perf_counter()
    ts = simulate_tilt_series(truth, angles, Acquisition(pixel_size=PIXEL, image_size=px, dose=DOSE, seed=0))
    sim = time.perf_counter() - t
    noise = np.random.default_rng(1).normal(0.0, DISPLACEMENT, truth.positions.shape)
    return truth, AtomicModel(truth.positions + noise, truth.elements), ts, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["6.6:256", "14.2:512"], help="sphere diameter nm : image px")
    ap.add_argument("--tilts", type=int, default=60)
    ap.add_argument("--iterations", type=int, default=3, help="outer iterations per refine run")
    ap.add_argument("--budget", type=float, default=360.0, help="seconds of iterations per case before stopping")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows, details = [], []
    evals_per_iteration = float(MAX_EVALS_PER_ITERATION)
    for spec in args.cases:
        size_nm, px = float(spec.split(":")[0]), int(spec.split(":")[1])
        truth, start, ts, sim = case(size_nm, px, args.tilts)
        n = len(truth)
        print(f"{n} atoms, {ts.n_images} × {px}², simulated in {sim:.1f} s; refining", flush=True)
        timer = Timer(args.budget, evals_per_iteration)
        load = [_loadavg()]
        rep, wall = timed_refine(start, ts, args.iterations, timer)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load.append(_loadavg())
        its = timer.iterations()
        per_eval = float(np.median(timer.evals))
        setup = (timer.first_eval or timer.start) - timer.start  # refine's start -> its first evaluation
        if its:
            per_it: float | str = float(np.median([s for s, _ in its]))
            evals_it: float | str = float(np.mean([k for _, k in its]))
            evals_per_iteration = float(evals_it)
        else:
            per_it, evals_it = f"~{per_eval * evals_per_iteration:.4g}", f"~{evals_per_iteration:.3g}"
        in_evals = sum(timer.evals)
        split = {k: v / in_evals for k, v in timer.project.items()}
        split["backward_and_rest"] = 1 - sum(split.values())
        rows.append(
            [
                n, ts.n_images, px, len(its), per_it, evals_it, per_eval,
                timer.r1_start, timer.r1_last if timer.r1_last is not None else "-", rss,
            ]
        )  # fmt: skip
        details.append(
            {
                "size_nm": size_nm, "atoms": n, "image_px": px, "simulate_s": sim, "refine_wall_s": wall,
                "setup_s": setup, "loadavg_1min_before_after": load, "stopped": timer.stopped, "eval_s": timer.evals,
                "steps": [{"stage": s, "seconds": t, "evaluations": k} for s, t, k in timer.steps],
                "project_s": timer.project, "eval_share": split, "peak_rss_mb": rss,
                "report_R1": None if rep is None else {"before": rep.before.R1, "after": rep.after.R1},
                "log": None if rep is None else rep.to_dict()["log"],
            }
        )  # fmt: skip
        print(
            f"  {len(timer.evals)} evaluations, median {per_eval:.2f} s, {len(its)} outer iteration(s), "
            f"stopped {timer.stopped or 'no'}, set-up {setup:.1f} s, peak RSS {rss:.0f} MB; evaluation time: "
            + ", ".join(f"{k} {v:.0%}" for k, v in split.items()),
            flush=True,
        )
    report(
        "refine",
        [
            "atoms", "projections", "image px", "outer its", "s / outer it", "evals / outer it", "s / eval",
            "R1 before", "R1 after", "peak RSS MB",
        ],
        rows,
        {
            "pixel_size_A": PIXEL, "dose": DOSE, "displacement_sigma_A": DISPLACEMENT, "iterations": args.iterations,
            "hb_iterations": 0, "budget_s": args.budget, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "rss_after_import_mb": rss0, "cases": details,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
