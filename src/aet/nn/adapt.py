"""``aet adapt``: fine-tune a shipped network on one experiment, from its own measured projections only.

A network trained on simulations meets a real series with physics it never saw. Adaptation fine-tunes it on the
series at hand, with no ground truth (the function never receives one):

* **Image consistency.** The network's atomicity output y (height-1 Gaussian peaks at atoms), brought back to the
  tomogram grid and projected with the shared projector, must match the measured images up to a scale, an offset
  and a Gaussian blur: images ≈ s · G_σ ∗ P(y) + c. s and c are refitted in closed form at every step; σ (Å, the
  difference between the real atoms' projected width and the target's) is chosen once, before adapting, as the σ
  that lets the un-adapted output fit the images best.
* **Atomicity prior.** Simulated pairs drawn as the network's own training data were (its card's ``training_data``)
  keep the output a field of atomic peaks: their loss is mixed in with ``prior_weight``. Each loss is divided by its
  value before adapting, so the weight is a plain ratio.
* **Held-out check.** ``check_fraction`` of the projections never enter the adaptation: neither the input tomogram
  nor the loss. Every 1/``checks`` of the budget the network predicts them from the input tomogram (fitting only s
  and c), and the weights that predict them best are kept, so that a network that starts to fit noise is not.
* Methods: ``consistency`` reconstructs the input from every adapting image and fits the same images; ``split``
  (the noise-to-noise half of DeepDeWedge) reconstructs each half of the adapting tilts and fits the other half's
  images, so that the noise of the input is never the target's; ``dewedge`` (DeepDeWedge, Wiedemann & Heckel
  2024, in projection space) is ``split`` with the input turned by a quarter turn and the measured wedge's own
  orientation cut out of it as well, so that the network learns to fill a wedge from the other half's images.

``exclude`` names projections kept out of everything (``aet run`` passes the refinement's R_free images, so that
R_free stays a test on data neither the network nor the model has seen).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import load_file

from aet.device import check_memory, resolve_device
from aet.errors import AetInputError
from aet.model import TiltSeries, Volume
from aet.nn import checkpoint, weights
from aet.nn.card import ModelCard
from aet.nn.data import DataConfig, make_sample
from aet.nn.normalise import intensity_scale, resample
from aet.nn.train import training_loss
from aet.physics.projector import Projector, get_projector
from aet.progress import progress_bar
from aet.reconstruction.setup import pixel_shifts
from aet.settings import to_table, updated
from aet.settings.adapt import AdaptSettings

#: Blur widths (Å) tried for the measured atoms' extra width over the network's target peaks.
SIGMAS_A = tuple(np.round(np.arange(0.0, 1.21, 0.1), 2))
#: Both the images and their prediction are compared through this Gaussian low-pass (Å): the noise of a low-dose
#: image is white, the atoms' signal is not (a matched filter; on asi208 at 8e3 e/Å² the raw pixels are 97 % noise).
LOWPASS_A = 0.4
#: Peak memory of one training step of the shipped U-Nets per voxel of the (padded) input, bytes: measured 340–850
#: on the CPU (64³ and 96³ windows, forward and backward), rounded up.
TRAIN_BYTES_PER_VOXEL = 1000
#: Simulated pairs get sample indices from here on, far from any training run's (0 … n_samples − 1).
PRIOR_INDEX = 1_000_000


@dataclass
class AdaptReport:
    """What an adaptation did (also written into the adapted model's card under ``adaptation``).

    ``check_before``/``check_best``: relative misfit of the held-out projections (mean squared residual over
    their variance) with the un-adapted and the kept weights; ``history``: (step, seconds, misfit) per check.
    """

    method: str
    steps: int
    seconds: float
    best_step: int
    check_before: float
    check_best: float
    sigma_A: float
    fit_images: list[int]
    check_images: list[int]
    excluded_images: list[int]
    history: list[tuple[int, float, float]]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Images:
    """A subset of the measured images and the forward model of the network's output onto them."""

    def __init__(self, ts: TiltSeries, idx: np.ndarray, shape: tuple[int, int, int], sigma_px: float,
                 device: torch.device) -> None:  # fmt: skip
        sub = ts.subset(idx)
        self.idx = idx
        self.lowpass = LOWPASS_A / ts.pixel_size
        self.images = _blur(torch.from_numpy(sub.images).to(device, torch.float32), self.lowpass)
        self.proj: Projector = get_projector(
            shape, sub.angles, sub.euler_convention, image_shape=tuple(sub.images.shape[1:]),
            shifts=pixel_shifts(sub), device=device, dtype=torch.float32,
        )  # fmt: skip
        self.sigma_px = 0.0
        self.set_sigma(sigma_px)

    def set_sigma(self, sigma_px: float) -> None:
        """The atoms' extra blur (pixels), combined with the low-pass into one Gaussian."""
        self.sigma_px = math.hypot(sigma_px, self.lowpass)

    def misfit(self, volume: torch.Tensor) -> torch.Tensor:
        """Mean squared residual of s·G_σ∗P(volume) + c against the images, over the images' variance (s and c the
        least-squares ones, differentiably)."""
        p = _blur(self.proj.forward(volume), self.sigma_px)
        b = self.images
        pc, bc = p - p.mean(), b - b.mean()
        s = (pc * bc).mean() / (pc * pc).mean().clamp_min(1e-20)
        return ((s * pc - bc) ** 2).mean() / (bc * bc).mean().clamp_min(1e-20)


class _Input:
    """One input tomogram at the network's voxel size, normalised and padded to the stride, and its grid."""

    def __init__(self, vol: Volume, card: ModelCard, device: torch.device) -> None:
        self.shape = vol.shape
        data = resample(vol.data, vol.voxel_size / card.voxel_size)
        data = data / intensity_scale(data)
        self.net_shape = data.shape
        k = card.architecture.stride
        pad = [(0, -n % k) for n in data.shape]
        self.x = torch.from_numpy(np.pad(data, pad).astype(np.float32))[None, None].to(device)

    def volume(self, net: torch.nn.Module, turn: tuple[int, tuple[int, int]] | None = None,
               max_tilt: float = 90.0) -> torch.Tensor:  # fmt: skip
        """The network's output on this input, on the tomogram's grid (trilinear, the voxel centres of
        :func:`aet.nn.normalise.resample`).

        ``turn`` = (quarter turns, tensor dims): the DeepDeWedge step. The input is turned, the measured wedge's
        own orientation (±``max_tilt`` about y, beam along z) is cut out of it in Fourier space as well, it is
        renormalised, and the output is turned back: the network must fill the cut wedge, which the other half's
        images measure, since for them it lies elsewhere.
        """
        x = self.x
        if turn is not None:
            x = torch.rot90(x, turn[0], turn[1])
            x = torch.fft.irfftn(torch.fft.rfftn(x, dim=(2, 3, 4)) * _wedge(x.shape[2:], max_tilt, x.device),
                                 s=x.shape[2:], dim=(2, 3, 4))  # fmt: skip
            x = x / intensity_scale(x[0, 0].detach().cpu().numpy())
        y = net(x)
        if turn is not None:
            y = torch.rot90(y, -turn[0], turn[1])
        y = y[..., : self.net_shape[0], : self.net_shape[1], : self.net_shape[2]]
        return F.interpolate(y, size=self.shape, mode="trilinear", align_corners=False)[0, 0]


#: The quarter turns of the DeepDeWedge step: about x (z ↔ y) and about z (y ↔ x), either way round.
TURNS: tuple[tuple[int, tuple[int, int]], ...] = ((1, (2, 3)), (3, (2, 3)), (1, (3, 4)), (3, (3, 4)))


def _wedge(shape: tuple[int, ...], max_tilt: float, device: torch.device) -> torch.Tensor:
    """The rfft mask ``[nz, ny, nx // 2 + 1]`` of a single-axis series over ±``max_tilt``° (tilt about y, beam
    along z): a frequency is measured when its direction in the (kx, kz) plane lies within ``max_tilt`` of kx."""
    kz = torch.fft.fftfreq(shape[0], device=device)[:, None, None]
    kx = torch.fft.rfftfreq(shape[2], device=device)[None, None, :]
    angle = torch.rad2deg(torch.atan2(kz.abs(), kx.abs()))
    return (angle <= max_tilt + 1e-6).expand(shape[0], shape[1], shape[2] // 2 + 1).float()


def _blur(images: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Gaussian blur of ``[n, rows, cols]`` images (σ in pixels, edges replicated so that an offset stays an
    offset), differentiable. Separable: a 1-D kernel along the rows, then along the columns."""
    if sigma_px <= 0:
        return images
    r = max(1, math.ceil(3 * sigma_px))
    t = torch.arange(-r, r + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-0.5 * (t / sigma_px) ** 2)
    k = k / k.sum()
    x = F.pad(images[:, None], (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return F.conv2d(x, k.view(1, 1, 1, -1))[:, 0]


def split_images(n: int, fraction: float, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(adapting, held-out) image indices: every k-th usable image (k = round(1/fraction)) is held out, spread over
    the tilt range; ``exclude`` is in neither."""
    usable = np.setdiff1d(np.arange(n), exclude)
    k = max(2, round(1 / fraction))
    check = usable[k // 2 :: k]
    fit = np.setdiff1d(usable, check)
    if len(check) < 1 or len(fit) < 6:
        raise AetInputError(
            f"{n} projections ({len(exclude)} excluded) are too few to adapt on: it needs at least 6 to adapt on and "
            f"1 to check with; lower check_fraction ({fraction:g}) or adapt on a longer series."
        )
    return fit, check


def prior_config(card: ModelCard) -> DataConfig:
    """The card's training-data config, from which the simulated pairs are drawn."""
    given = card.extra.get("training_data")
    if not isinstance(given, dict):
        raise AetInputError(f"the card of {card.name} has no training_data; set prior_samples = 0 to adapt without "
                            "simulated pairs.")  # fmt: skip
    return DataConfig.from_dict(given)


def adapt(
    ts: TiltSeries,
    model: str | Path = "default",
    settings: AdaptSettings | None = None,
    *,
    reconstruct: Callable[[TiltSeries], Volume] | None = None,
    exclude: Any = (),
    device: str | torch.device | None = "auto",
    progress: bool = True,
    workdir: str | Path | None = None,
    source: str | None = None,
    **options: Any,
) -> tuple[torch.nn.Module, ModelCard, AdaptReport]:
    """Fine-tune ``model`` on the tilt series ``ts`` (aligned, as for reconstruction; images in any linear unit).

    Args:
        model: a shipped name or a ``.safetensors`` path.
        settings: :class:`AdaptSettings`; ``**options`` set single fields by name.
        reconstruct: how a subset of the images is reconstructed into the network's input (``aet run`` passes its
            own reconstruction settings); default: the card's ``reconstruction``.
        exclude: image indices kept out of the adaptation altogether.
        workdir: folder for checkpoints (``adapt_checkpoint.*``): an interrupted adaptation resumes from there
            with the rest of its budget.
        source: what the series is (a file name, a hash), written into the adapted card.

    Returns:
        The adapted network (eval mode, CPU), its card (the base card, renamed, with ``adaptation``: the series'
        shape, the report and the base model) and the :class:`AdaptReport`.
    """
    s = updated(settings or AdaptSettings(), options)
    start = time.perf_counter()
    budget = 60.0 * s.minutes
    dev = resolve_device(device)
    base, card = weights.load(model, kind="volume")
    net = copy.deepcopy(base).to(dev)  # the loaded module is cached: never train it in place
    if reconstruct is None:
        from aet.nn.data import reconstruct_for_network

        def reconstruct(sub: TiltSeries) -> Volume:
            return reconstruct_for_network(sub, card.reconstruction)

    excluded = np.unique(np.asarray(exclude, dtype=int).reshape(-1))
    max_tilt = float(np.abs(ts.tilt_angles).max())
    fit, check = split_images(ts.n_images, s.check_fraction, excluded)
    halves = [fit] if s.method == "consistency" else [fit[0::2], fit[1::2]]  # split and dewedge: two halves
    # (input tomogram, images it must predict): consistency fits its own images, split the other half's
    recs = [_Input(reconstruct(ts.subset(h)), card, dev) for h in halves]
    shape = recs[0].shape
    check_memory(TRAIN_BYTES_PER_VOXEL * recs[0].x.numel(), dev,
                 f"a training step of {card.name} on the whole {tuple(recs[0].x.shape[2:])}-voxel tomogram")
    targets = [fit] if s.method == "consistency" else [halves[1], halves[0]]
    fit_sets = [_Images(ts, t, shape, 0.0, dev) for t in targets]
    check_input = recs[0] if s.method == "consistency" else _Input(reconstruct(ts.subset(fit)), card, dev)
    check_set = _Images(ts, check, shape, 0.0, dev)

    sigma = _choose_sigma(net, check_input, fit_sets[0] if s.method == "consistency" else _Images(
        ts, fit, shape, 0.0, dev), ts.pixel_size)  # fmt: skip
    for images in (*fit_sets, check_set):
        images.set_sigma(sigma / ts.pixel_size)
    prior = _prior_pairs(card, s) if s.prior_samples and s.prior_weight > 0 else None
    atom_weight = float(card.extra.get("training", {}).get("atom_weight", 0.0) or 0.0)

    net.eval()
    with torch.no_grad():
        dc0 = [float(f.misfit(r.volume(net))) for f, r in zip(fit_sets, recs, strict=True)]
        check0 = float(check_set.misfit(check_input.volume(net)))
        prior0 = _prior_reference(net, prior, dev, atom_weight) if prior is not None else 1.0
    torch.manual_seed(s.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=0.0)
    step, best, history = 0, (check0, 0, copy.deepcopy(net.state_dict())), [(0, 0.0, check0)]
    resumed = checkpoint.load(Path(workdir), "adapt_checkpoint", net, opt, dev) if workdir is not None else None
    if resumed is not None:  # an interrupted adaptation: go on with the rest of its budget
        step, history = int(resumed["step"]), [tuple(h) for h in resumed["history"]]
        best_state = load_file(str(Path(workdir) / "adapt_best.safetensors"))  # type: ignore[arg-type]
        best = (float(resumed["best_misfit"]), int(resumed["best_step"]), best_state)
        start -= float(resumed["seconds"])
    every = budget / s.checks
    next_check = (len(history)) * every if s.steps is None else None
    check_steps = max(1, (s.steps or 1) // s.checks)
    step_time = 0.0
    with progress_bar(s.checks, "adapt", enabled=progress) as advance:
        while True:
            elapsed = time.perf_counter() - start
            done = step >= s.steps if s.steps is not None else elapsed + step_time > budget
            if done:
                break
            t = time.perf_counter()
            net.train()
            k = step % len(recs)
            turn = None
            if s.method == "dewedge":
                turn = TURNS[int(np.random.default_rng([s.seed, step, 1]).integers(len(TURNS)))]
            loss = fit_sets[k].misfit(recs[k].volume(net, turn, max_tilt)) / dc0[k]
            if prior is not None:
                loss = loss + s.prior_weight * _prior_loss(net, prior, dev, atom_weight, step, s.seed) / prior0
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            step_time = max(step_time * 0.9, time.perf_counter() - t)  # a pessimistic running step time
            elapsed = time.perf_counter() - start
            due = (step % check_steps == 0) if s.steps is not None else (elapsed >= next_check)  # type: ignore[operator]
            last = (step >= s.steps) if s.steps is not None else (elapsed + step_time > budget)
            if due or last:
                net.eval()
                with torch.no_grad():
                    misfit = float(check_set.misfit(check_input.volume(net)))
                history.append((step, round(elapsed, 2), misfit))
                if misfit < best[0]:
                    best = (misfit, step, copy.deepcopy(net.state_dict()))
                if s.steps is None:
                    next_check = (len(history)) * every
                if workdir is not None:
                    _save_checkpoint(Path(workdir), net, opt, step, elapsed, best, history)
                advance(held_out=misfit)
    net.load_state_dict(best[2])
    net.eval().cpu()
    report = AdaptReport(
        method=s.method, steps=step, seconds=round(time.perf_counter() - start, 2), best_step=best[1],
        check_before=check0, check_best=best[0], sigma_A=sigma, fit_images=fit.tolist(), check_images=check.tolist(),
        excluded_images=excluded.tolist(), history=history, settings=to_table(s),
    )  # fmt: skip
    adapted = card.to_dict()
    adapted.update({
        "name": f"{card.name}-adapted", "created": time.strftime("%Y-%m-%d"),
        "adaptation": {"base_model": card.name, "base_version": card.version,
                       "series": {"source": source, "images": ts.n_images, "shape": list(ts.images.shape[1:]),
                                  "pixel_size_A": ts.pixel_size, "tilt_range_deg": _tilt_range(ts)},
                       **report.to_dict()},
    })  # fmt: skip
    return net, ModelCard.from_dict(adapted), report


def _tilt_range(ts: TiltSeries) -> list[float]:
    return [float(ts.tilt_angles.min()), float(ts.tilt_angles.max())]


def _choose_sigma(net: torch.nn.Module, rec: _Input, images: _Images, pixel_size: float) -> float:
    """The blur (Å) in :data:`SIGMAS_A` with which the un-adapted output fits the images best."""
    net.eval()
    with torch.no_grad():
        vol = rec.volume(net)
        found = []
        for sigma in SIGMAS_A:
            images.set_sigma(sigma / pixel_size)
            found.append(float(images.misfit(vol)))
    return float(SIGMAS_A[int(np.argmin(found))])


def _prior_pairs(card: ModelCard, s: AdaptSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows ``[k, 1, box, box, box]`` (input, target) of ``prior_samples`` simulated particles."""
    cfg = prior_config(card)
    samples = [make_sample(cfg, PRIOR_INDEX + 1000 * s.seed + i) for i in range(s.prior_samples)]
    x = np.concatenate([p["input"] for p in samples])[:, None]
    y = np.concatenate([p["target"] for p in samples])[:, None]
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def _prior_reference(net: torch.nn.Module, prior: tuple[torch.Tensor, torch.Tensor], device: torch.device,
                     atom_weight: float) -> float:  # fmt: skip
    """The training loss averaged over every simulated window (what the prior loss is measured against)."""
    x, y = prior
    return float(np.mean([float(training_loss(net(x[i : i + 1].to(device)), y[i : i + 1].to(device), atom_weight))
                          for i in range(len(x))]))  # fmt: skip


def _prior_loss(net: torch.nn.Module, prior: tuple[torch.Tensor, torch.Tensor], device: torch.device,
                atom_weight: float, step: int, seed: int) -> torch.Tensor:  # fmt: skip
    """The training loss on one simulated window, flipped at random, drawn for ``step``."""
    x, y = prior
    rng = np.random.default_rng([seed, step])
    i = int(rng.integers(len(x)))
    axes = tuple(2 + int(a) for a in np.flatnonzero(rng.integers(0, 2, 3)))
    xi, yi = x[i : i + 1], y[i : i + 1]
    if axes:
        xi, yi = torch.flip(xi, axes), torch.flip(yi, axes)
    return training_loss(net(xi.to(device)), yi.to(device), atom_weight)


def _save_checkpoint(folder: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int, elapsed: float,
                     best: tuple[float, int, dict[str, torch.Tensor]], history: list) -> None:  # fmt: skip
    meta = {"step": step, "seconds": elapsed, "best_misfit": best[0], "best_step": best[1], "history": history}
    checkpoint.save(folder, "adapt_checkpoint", net, opt, meta, {"adapt_best": best[2]})


__all__ = ["AdaptReport", "AdaptSettings", "adapt", "split_images"]
