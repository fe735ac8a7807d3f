"""The settings of ``aet run``: one TOML file with a table per stage; what was used is written beside the outputs.

Every key is optional. Unknown tables or keys are refused (a typo must not be silently ignored). TOML has no
null, so "no value" is written as the string ``"none"``.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from aet.errors import AetInputError

DEFAULTS: dict[str, dict[str, Any]] = {
    "input": {
        "pixel_size": "none",  # Å; "none": from the file
        "elements": ["Pt"],
        "euler": "none",  # zyz or zyx for foreign angle files
        "tilt_axis": 0.0,  # degrees from image rows; must be 0 (rotate the images first)
        "key": "none",  # array name in .mat/.h5/.npz
        "angles": "none",  # angle file
        "angles_key": "none",
    },
    "run": {"device": "auto", "seed": 0},
    "prepare": {
        "background": True,  # subtract each image's border median
        "normalise": True,  # scale every image to the mean total intensity
        "denoise": "none",  # none | gaussian | median | "package.module:function"(images, pixel_size) -> images
        "denoise_sigma": 0.3,  # Å (gaussian) or half-width (median)
        "align": "none",  # none | centre-of-mass | "package.module:function"(images, angles, pixel_size) -> images
    },
    "reconstruct": {"method": "resire", "iterations": 50, "support": "none", "positivity": True},
    # model "auto": see network_for
    "augment": {"enabled": True, "model": "auto", "tta": 4, "overlap": 0.25, "batch_size": 2},
    "trace": {  # "auto": the model card's recommendation when tracing an augmented volume, else aet.trace's default
        "min_distance": 2.0,
        "threshold": "auto",
        "min_height": "auto",
        "max_sigma": 1.2,
        "smooth": 0.3,
        "integration_radius": 1.0,
        "classify": "kmeans",
        "local_radius": 10.0,
        "support": "auto",  # auto: the particle's envelope (1 Å blur, Otsu, 2 Å margin) | none | a mask file
    },  # fmt: skip
    "refine": {
        "enabled": True,
        "iterations": 20,
        "hb_iterations": 10,
        "max_move": 1.0,
        "per_atom_b": False,
        "angle_correction": True,
        "image_shifts": False,
        "tol": 1e-5,
    },  # fmt: skip
    "report": {"projections": 4},
}


def network_for(model: str, elements: list[str]) -> str:
    """The network ``[augment] model`` names; ``"auto"``: ``unet-alloy`` for two or more elements (the default
    network leaves a light species among heavy ones, e.g. Fe in FePt, too dim to classify; on the simulated test set
    alloys reach F1 0.986 with ``unet-alloy`` against 0.874, docs/benchmarks.md), else the default network (which
    invents fewer atoms in low-contrast single-element data such as asi208)."""
    if model != "auto":
        return model
    return "unet-alloy" if len(set(elements)) > 1 else "default"


def load_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> dict:
    """Defaults, updated by the TOML file at ``path`` and then by ``overrides`` (command-line options)."""
    cfg = copy.deepcopy(DEFAULTS)
    layers = []
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise AetInputError(f"config file {path} does not exist.")
        try:
            layers.append((str(path), tomllib.loads(path.read_text())))
        except tomllib.TOMLDecodeError as err:
            raise AetInputError(f"{path} is not valid TOML: {err}") from err
    layers.append(("the command line", overrides or {}))
    for source, layer in layers:
        for section, values in layer.items():
            if section not in cfg:
                raise AetInputError(f"unknown table [{section}] in {source}; tables are {', '.join(cfg)}.")
            unknown = set(values) - set(cfg[section])
            if unknown:
                raise AetInputError(
                    f"unknown key(s) {', '.join(sorted(unknown))} in [{section}] of {source}; "
                    f"allowed: {', '.join(cfg[section])}."
                )
            cfg[section].update({k: v for k, v in values.items() if v is not None})
    return cfg


def none(value: Any) -> Any:
    """``None`` for the TOML spelling of no value (``"none"``)."""
    return None if isinstance(value, str) and value.lower() == "none" else value


def dumps(cfg: dict) -> str:
    """The config as TOML text (written to ``DIR/config_used.toml``)."""
    return tomli_w.dumps(cfg)
