"""Network weights and model cards: safetensors (never pickle) plus a JSON card beside them.

A model is a pair ``NAME.safetensors`` (the tensors) + ``NAME.json`` (the card: architecture and options,
voxel size, window, normalisation, the reconstruction it expects, training data and settings, seeds, metrics and
the command that retrains it). The shipped models live in ``aet/nn/weights/``; ``load("default")`` picks the one
named in ``weights/default.txt``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from aet.errors import AetFileNotFoundError, AetFormatError, AetInputError
from aet.io.atomic import atomic_paths, dump_json
from aet.nn.card import ModelCard
from aet.nn.models import build

SHIPPED = resources.files("aet.nn") / "weights"


def save(net: nn.Module, card: ModelCard, path: str | Path) -> Path:
    """Write ``path`` (.safetensors) and its card (.json) atomically; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_paths(path, path.with_suffix(".json")) as (tmp, tmp_card):
        save_file(tensors, str(tmp), metadata={"format": "aet-model", "architecture": card.architecture.name})
        dump_json(card.to_dict(), tmp_card)
    return path


def shipped_names() -> list[str]:
    """Names of the models shipped inside the package."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name.removesuffix(".safetensors") for p in SHIPPED.iterdir() if p.name.endswith(".safetensors"))


def network_for(model: str, elements: Sequence[str]) -> str:
    """The network a model setting names; ``"auto"``: ``unet-alloy`` for two or more elements (the default network
    leaves a light species among heavy ones, e.g. Fe in FePt, too dim to classify), else the default network
    (which invents fewer atoms in low-contrast single-element data such as asi208). Measured in
    docs/benchmarks.md."""
    if model != "auto":
        return model
    return "unet-alloy" if len(set(elements)) > 1 else "default"


def resolve(name_or_path: str | Path) -> Path:
    """Weights file of a shipped model name (``"default"``, ``"unet"``, ...) or a path to ``.safetensors``."""
    text = str(name_or_path)
    if text == "default":
        text = (SHIPPED / "default.txt").read_text().strip()
    if text in shipped_names():
        return Path(str(SHIPPED / f"{text}.safetensors"))
    path = Path(text).with_suffix(".safetensors")
    if not path.exists():
        raise AetFileNotFoundError(
            f"no model {text!r}: give a shipped model ({', '.join(['default', *shipped_names()])}) or the path of "
            "a .safetensors file written by `aet train`."
        )
    return path


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> tuple[nn.Module, ModelCard]:
    card_path = Path(path).with_suffix(".json")
    if not card_path.exists():
        raise AetFormatError(f"{path} has no model card {card_path.name} beside it; aet needs both files.")
    try:
        text = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AetFormatError(f"the model card {card_path} is not valid JSON ({err}).") from err
    card = ModelCard.from_dict(text, where=f"the model card {card_path}")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in card.architecture.options.items()}
    try:
        net = build(card.architecture.name, **options)
    except TypeError as err:
        raise AetFormatError(f"{path} does not match the architecture in its card: {err}") from err
    try:
        net.load_state_dict(load_file(path))  # safetensors: plain tensors, nothing is unpickled
    except RuntimeError as err:
        raise AetFormatError(f"{path} does not match the architecture in its card: {err}") from err
    net.eval()
    return net, card


#: What a network works on, by its architecture: ``sinogram`` networks inpaint tilt series (aet.nn.inpaint), the
#: others augment tomograms.
SINOGRAM_ARCHITECTURES = ("sinogram-unet",)


def load(name_or_path: str | Path = "default", kind: str | None = None) -> tuple[nn.Module, ModelCard]:
    """The network (eval mode, on the CPU) and its card. Cached per file; never unpickles. ``kind``
    (``"volume"`` or ``"sinogram"``): refuse a network of the other kind with a clear error."""
    path = resolve(name_or_path)
    net, card = _load_cached(str(path), path.stat().st_mtime)
    if kind is not None:
        found = "sinogram" if card.architecture.name in SINOGRAM_ARCHITECTURES else "volume"
        if found != kind:
            use = "aet inpaint, [reconstruct] inpaint_model" if found == "sinogram" else "aet augment, [augment] model"
            raise AetInputError(f"{name_or_path} is a {found} network ({card.architecture.name}), not a {kind} "
                                f"network; use it with {use}.")  # fmt: skip
    return net, copy.deepcopy(card)  # the caller may change the card's dicts; the cached one stays as read
