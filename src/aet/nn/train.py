"""``aet train``: config file in, checkpoints, logs and a model (safetensors + card) out; resumable.

The config is TOML with four tables (every key optional; defaults below and in :class:`aet.nn.data.DataConfig`)::

    [network]      name = "unet"; options = {channels = [16, 32, 64, 128], res_units = 2}; init (weights to start from)
    [data]         any DataConfig field, plus n_samples, cache_dir, workers, min_ready
    [training]     steps, batch_size, lr, weight_decay, warmup, checkpoint_every, device, threads, seed, name,
                   atom_weight (loss weight 1 + atom_weight × target), clip_grad (gradient-norm cap, 0 = none)
    [validation]   every, particles, dose, max_tilt, projections, angle_error, seed

Training draws its batches from the sample cache while ``workers`` background processes keep generating
(:class:`aet.nn.data.CachedSamples`), so a run starts once ``min_ready`` samples exist. Batch ``k`` depends only
on (seed, k) and the samples ready, and the optimiser state is checkpointed, so a stopped run resumes where it
stopped. Logs: ``train_log.csv`` (step, loss, lr, seconds, samples ready) and ``val_log.csv`` (volume RMSE,
PSNR, SSIM against the target; atom-level F1, recall, precision and RMSD in pm after tracing), both plain CSV.
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import shlex
import time
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from aet.device import resolve_device
from aet.errors import AetInputError
from aet.io.atomic import atomic_paths, dump_json
from aet.model import AtomicModel, Volume
from aet.nn import checkpoint, weights
from aet.nn.augment import predict
from aet.nn.card import ModelCard
from aet.nn.data import CachedSamples, DataConfig, make_validation_particle
from aet.nn.models import build, count_parameters, stride

DEFAULTS: dict[str, dict[str, Any]] = {
    "network": {"name": "unet", "options": {}, "init": None},
    "data": {"n_samples": 2000, "cache_dir": "aet-train-cache", "workers": 1, "min_ready": 50},
    "training": {
        "steps": 6000, "batch_size": 2, "lr": 1e-3, "weight_decay": 1e-4, "warmup": 200, "checkpoint_every": 200,
        "device": "auto", "threads": 0, "seed": 0, "name": None, "atom_weight": 0.0,
        "clip_grad": 1.0,
    },
    "validation": {
        "every": 500, "particles": 4, "dose": 1e4, "max_tilt": 65.0, "projections": 21, "angle_error": 0.3,
        "seed": 1000,
    },
}  # fmt: skip


def load_config(config: str | Path | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config (a TOML path or a dict) merged over :data:`DEFAULTS`; unknown keys are refused."""
    if isinstance(config, dict):
        raw = config
    else:
        path = Path(config)
        if not path.exists():
            raise AetInputError(f"training config {path} does not exist.")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise AetInputError(f"{path} is not valid TOML: {err}") from err
    data_keys = {f.name for f in fields(DataConfig)}
    out: dict[str, dict[str, Any]] = {}
    for section, defaults in DEFAULTS.items():
        given = dict(raw.get(section, {}))
        allowed = set(defaults) | (data_keys if section == "data" else set())
        unknown = set(given) - allowed
        if unknown:
            raise AetInputError(f"unknown key(s) {sorted(unknown)} in [{section}]; allowed: {sorted(allowed)}.")
        out[section] = {**defaults, **given}
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise AetInputError(f"unknown table(s) {sorted(unknown)}; use {list(DEFAULTS)}.")
    return out


def data_config(cfg: dict[str, dict[str, Any]]) -> DataConfig:
    return DataConfig.from_dict(cfg["data"])


def training_loss(prediction: torch.Tensor, target: torch.Tensor, atom_weight: float) -> torch.Tensor:
    """MSE, optionally weighted towards atoms (1 + atom_weight × target) so that dim species count."""
    return torch.mean((1 + atom_weight * target) * (prediction - target) ** 2)


def train(
    config: str | Path | dict[str, Any],
    out: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    config_path: str | Path | None = None,
) -> Path:
    """Train a network; returns the path of the final weights ``out/NAME.safetensors`` (card beside it).

    ``config_path`` names the config file in the model card's retrain command when ``config`` is a dict.
    """
    cfg = load_config(config)
    config = config_path or config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_cfg, v_cfg, n_cfg = cfg["training"], cfg["validation"], cfg["network"]
    if t_cfg["threads"]:
        torch.set_num_threads(int(t_cfg["threads"]))
    dcfg = data_config(cfg)
    device = resolve_device(t_cfg["device"])
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in n_cfg["options"].items()}
    torch.manual_seed(int(t_cfg["seed"]))
    net = build(n_cfg["name"], **options).to(device)
    if dcfg.box % stride(n_cfg["name"], **options):
        raise AetInputError(f"data.box = {dcfg.box} must be a multiple of the network stride.")
    if n_cfg["init"] and not (resume and (out / "checkpoint.safetensors").exists()):
        net.load_state_dict(load_file(str(weights.resolve(n_cfg["init"]))))  # fine-tune from these weights
    opt = torch.optim.AdamW(net.parameters(), lr=t_cfg["lr"], weight_decay=t_cfg["weight_decay"])
    step0, best = 0, None
    if resume and (out / "checkpoint.safetensors").exists():
        step0, best = _load_checkpoint(out, net, opt, device)
    dump_json({**cfg, "resumed_at_step": step0}, out / "config_used.json")
    dataset = CachedSamples(dcfg, cfg["data"]["n_samples"], Path(cfg["data"]["cache_dir"]).expanduser())
    workers = _start_workers(dataset, int(cfg["data"]["workers"]))
    try:
        ready = _wait_ready(dataset, int(cfg["data"]["min_ready"]), progress)
        val = _validation_set(dcfg, v_cfg, out / "validation")
        train_log = _Log(out / "train_log.csv", ["step", "loss", "lr", "seconds", "samples_ready"], step0)
        val_cols = ["step", "rmse", "psnr", "ssim", "f1", "recall", "precision", "rmsd_pm"]
        val_log = _Log(out / "val_log.csv", val_cols, step0)
        steps, bs = int(t_cfg["steps"]), int(t_cfg["batch_size"])
        start = time.perf_counter()
        net.train()
        for step in range(step0, steps):
            if step % 50 == 0:
                ready = dataset.ready()
            rng = np.random.default_rng([int(t_cfg["seed"]), step])
            items = rng.choice(ready, bs) * dcfg.crops + rng.integers(dcfg.crops, size=bs)
            pairs = [dataset[int(k)] for k in items]
            x = torch.stack([p[0] for p in pairs]).to(device)
            y = torch.stack([p[1] for p in pairs]).to(device)
            x = x * torch.empty(bs, 1, 1, 1, 1, device=device).uniform_(0.85, 1.15)  # tolerate normalisation error
            lr = _learning_rate(step, t_cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = training_loss(net(x), y, float(t_cfg["atom_weight"]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t_cfg["clip_grad"]:  # a single bad step once blew up an unclipped run (loss 2e-4 -> 7 at step 1850)
                torch.nn.utils.clip_grad_norm_(net.parameters(), float(t_cfg["clip_grad"]))
            opt.step()
            train_log.write([step + 1, loss.item(), lr, round(time.perf_counter() - start, 2), len(ready)])
            last = step + 1 == steps
            if (step + 1) % int(v_cfg["every"]) == 0 or last:
                metrics = validate(net, val, dcfg, device)
                val_log.write([step + 1, *(metrics[k] for k in val_log.columns[1:])])
                net.train()
                if best is None or (metrics["f1"], -metrics["rmse"]) > (best["f1"], -best["rmse"]):
                    best = {"step": step + 1, **metrics}
                    _write_model(net, cfg, dcfg, best, out / "best", config, len(ready))
            if (step + 1) % int(t_cfg["checkpoint_every"]) == 0 or last:
                _save_checkpoint(out, net, opt, step + 1, best)
            if progress and (step + 1) % 50 == 0:
                print(f"step {step + 1}/{steps} loss {loss.item():.5f} lr {lr:.2e} ready {len(ready)}", flush=True)
    finally:
        for w in workers:
            w.terminate()
    name = t_cfg["name"] or n_cfg["name"]
    final = out / name
    net.load_state_dict(load_file(str(out / "best.safetensors")))
    return _write_model(net, cfg, dcfg, best, final, config, len(dataset.ready()))


def validate(
    net: torch.nn.Module, val: list[tuple[AtomicModel, Volume]], dcfg: DataConfig, device: torch.device
) -> dict[str, float]:
    """Mean volume RMSE/PSNR/SSIM against the target, and atom-level scores after tracing, over ``val``."""
    from skimage.metrics import structural_similarity

    from aet.metrics import compare
    from aet.nn.data import target_volume
    from aet.nn.normalise import intensity_scale
    from aet.tracing import trace

    net.eval()
    rows = []
    for truth, vol in val:
        pred, _ = predict(net, vol.data / intensity_scale(vol.data), dcfg.box, 0.25, 2, device)
        target = target_volume(truth, vol, dcfg.target_b)
        rmse = float(np.sqrt(np.mean((pred - target) ** 2)))
        psnr = float(20 * np.log10(1.0 / max(rmse, 1e-12)))
        ssim = float(structural_similarity(target, pred, data_range=1.0))
        # positions only: every peak of the atomicity volume is an atom whatever its species
        traced = trace(Volume(pred, vol.voxel_size, vol.origin), ["Pt"])
        cmp = compare(traced, truth)
        rows.append({"rmse": rmse, "psnr": psnr, "ssim": ssim, "f1": cmp.f1, "recall": cmp.recall,
                     "precision": cmp.precision, "rmsd_pm": cmp.rmsd_pm})  # fmt: skip
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _learning_rate(step: int, t: dict[str, Any]) -> float:
    """Linear warm-up, then cosine decay to 2 % of ``lr``."""
    if step < t["warmup"]:
        return t["lr"] * (step + 1) / t["warmup"]
    frac = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return t["lr"] * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))


class _Log:
    """Append-only CSV; on resume, rows at or after the resumed step are dropped."""

    def __init__(self, path: Path, columns: list[str], step0: int) -> None:
        self.path, self.columns = path, columns
        rows = []
        if path.exists() and step0 > 0:
            with path.open() as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if r and int(float(r[0])) <= step0]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([columns, *rows])

    def write(self, row: list[Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])


def _save_checkpoint(out: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int, best: dict | None) -> None:
    checkpoint.save(out, "checkpoint", net, opt, {"step": step, "best": best})


def _load_checkpoint(
    out: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, device: torch.device
) -> tuple[int, dict | None]:
    meta = checkpoint.load(out, "checkpoint", net, opt, device)
    assert meta is not None
    return int(meta["step"]), meta.get("best")


def _write_model(
    net: torch.nn.Module, cfg: dict, dcfg: DataConfig, metrics: dict | None, path: Path, config: Any,
    samples_used: int | None = None,
) -> Path:
    name, options = cfg["network"]["name"], cfg["network"]["options"]
    card = {
        "name": cfg["training"]["name"] or name,
        "version": 1,
        "created": time.strftime("%Y-%m-%d"),
        "architecture": {"name": name, "options": options, "stride": stride(name, **options),
                         "parameters": count_parameters(net)},
        "voxel_size": dcfg.voxel_size,
        "window": dcfg.box,
        "normalisation": "input / aet.nn.normalise.intensity_scale(input) at the network voxel size",
        "target": {"b_factor_A2": dcfg.target_b, "height": 1.0, "convention": "AET: H·exp(−π² r² / B)"},
        "reconstruction": dcfg.reconstruction,
        "training_data": {**dcfg.to_dict(), "n_samples": cfg["data"]["n_samples"], "samples_used": samples_used},
        "training": cfg["training"],
        "validation": {"settings": cfg["validation"], "best": metrics},
        "retrain": f"aet train {shlex.quote(str(config)) if not isinstance(config, dict) else 'CONFIG.toml'} --out DIR",
    }  # fmt: skip
    return weights.save(net, ModelCard.from_dict(card), path)


def _generate(dataset: CachedSamples, worker: int, workers: int) -> None:
    torch.set_num_threads(1)
    for i in range(worker, dataset.n, workers):
        dataset.load(i)


def _start_workers(dataset: CachedSamples, workers: int) -> list[Any]:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_generate, args=(dataset, w, workers), daemon=True) for w in range(workers)]
    for p in procs:
        p.start()
    return procs


def _wait_ready(dataset: CachedSamples, min_ready: int, progress: bool) -> np.ndarray:
    min_ready = min(min_ready, dataset.n)
    while len(ready := dataset.ready()) < min_ready:
        if progress:
            print(f"waiting for training samples: {len(ready)}/{min_ready}", flush=True)
        time.sleep(10)
    return ready


def _validation_set(dcfg: DataConfig, v: dict[str, Any], folder: Path) -> list[tuple[AtomicModel, Volume]]:
    """Fixed validation particles (full reconstructions at the validation acquisition), cached in ``folder``."""
    folder.mkdir(exist_ok=True)
    out = []
    for k in range(int(v["particles"])):
        path = folder / f"particle_{k}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as f:
                truth = AtomicModel(f["positions"], [str(e) for e in f["elements"]])
                vol = Volume(f["volume"], float(f["voxel_size"]), tuple(f["origin"]))
        else:
            truth, vol = make_validation_particle(dcfg, v, k)
            with atomic_paths(path) as (tmp,):
                np.savez(tmp, positions=truth.positions, elements=np.array(truth.elements), volume=vol.data,
                         voxel_size=vol.voxel_size, origin=np.array(vol.origin))  # fmt: skip
        out.append((truth, vol))
    return out
