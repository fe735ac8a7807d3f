"""Settings of :func:`aet.augment`."""

from __future__ import annotations

from dataclasses import dataclass

from aet.settings import Settings, setting


@dataclass(frozen=True)
class AugmentSettings(Settings):
    """Which network sharpens the tomogram, and how it is run over the volume."""

    model: str = setting(
        "auto", "Network: a shipped name (unet, unet-transformer, unet-alloy, default), a .safetensors path, or "
        "auto (unet-alloy for two or more elements, else the default network).",
    )  # fmt: skip
    tta: int = setting(4, "Test-time flips averaged; their spread is the uncertainty.", minimum=1, maximum=8)
    overlap: float = setting(0.25, "Overlap of neighbouring windows (fraction).", minimum=0, maximum=0.9)
    window: int | None = setting(None, "Window edge in network voxels (a multiple of the stride); none: the card's.",
                                 minimum=1)  # fmt: skip
    batch_size: int = setting(2, "Windows per forward pass (bounds the memory).", minimum=1)
