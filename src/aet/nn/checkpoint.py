"""Resumable training state: weights and AdamW state as safetensors (never pickle), counters as JSON, all atomic.

Used by ``aet train`` (``checkpoint.*``) and ``aet adapt`` (``adapt_checkpoint.*``, with its best weights beside).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from aet.io.atomic import atomic_paths, dump_json


def save(folder: Path, stem: str, net: torch.nn.Module, opt: torch.optim.Optimizer, meta: dict[str, Any],
         extra: dict[str, dict[str, torch.Tensor]] | None = None) -> None:  # fmt: skip
    """Write ``STEM.safetensors`` (weights, optimiser state), ``STEM.json`` (``meta`` and the optimiser's
    hyper-parameters) and one ``NAME.safetensors`` per entry of ``extra`` (other state dicts), all in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    state = opt.state_dict()
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            tensors[f"opt.{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    extra = extra or {}
    paths = [folder / f"{stem}.safetensors", folder / f"{stem}.json", *(folder / f"{n}.safetensors" for n in extra)]
    with atomic_paths(*paths) as (tmp, tmp_meta, *tmp_extra):
        save_file(tensors, str(tmp))
        dump_json({**meta, "param_groups": state["param_groups"]}, tmp_meta)
        for t, sd in zip(tmp_extra, extra.values(), strict=True):
            save_file({k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(t))


def load(folder: Path, stem: str, net: torch.nn.Module, opt: torch.optim.Optimizer,
         device: torch.device) -> dict[str, Any] | None:  # fmt: skip
    """Restore ``net`` and ``opt`` from ``STEM.*`` in ``folder`` and return the saved ``meta``; None if absent."""
    if not (folder / f"{stem}.json").exists():
        return None
    tensors = load_file(str(folder / f"{stem}.safetensors"))
    meta = json.loads((folder / f"{stem}.json").read_text())
    net.load_state_dict({k[6:]: v.to(device) for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, key = k.split(".", 2)
            state.setdefault(int(pid), {})[key] = v.to(device) if key != "step" else v
    opt.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return meta
