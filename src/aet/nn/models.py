"""Networks for tomogram augmentation, built from MONAI blocks, in a small registry.

* ``unet``: MONAI's residual 3-D U-Net (Kerfoot et al. 2018), the architecture family of Lee et al. 2021.
* ``unet-transformer``: a compact residual U-Net whose bottleneck is a stack of transformer blocks (global
  self-attention over the coarsest feature map), in the spirit of UNETR/EC-UNETR but light enough for CPU training.

Both take and return ``[batch, 1, z, y, x]`` volumes at the network's voxel size (see :mod:`aet.nn.normalise`);
spatial sizes must be multiples of :func:`stride` (sliding-window inference takes care of that). No
normalisation layers: instance or group norm would rescale every window by its own statistics and break the
explicit, shared intensity normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.networks.blocks import ResidualUnit, TransformerBlock, UpSample
from monai.networks.nets import UNet
from torch import nn

from aet.errors import AetInputError


def unet(channels: tuple[int, ...] = (16, 32, 64, 128), res_units: int = 2) -> nn.Module:
    """MONAI residual U-Net with ``len(channels) - 1`` stride-2 levels."""
    return UNet(
        spatial_dims=3, in_channels=1, out_channels=1, channels=tuple(channels), strides=(2,) * (len(channels) - 1),
        num_res_units=res_units, norm=None, act="PRELU",
    )  # fmt: skip


class UNetTransformer(nn.Module):
    """Residual encoder (stride 2 per level) → transformer blocks on the coarsest map → residual decoder with skips.

    With the default channels a 64³ window becomes 8³ = 512 tokens of width 128 in the bottleneck.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128), depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        enc = channels[:-1]
        self.down = nn.ModuleList(
            ResidualUnit(3, c_in, c_out, strides=2, norm=None) for c_in, c_out in zip((1, *enc[:-1]), enc, strict=True)
        )
        width = channels[-1]
        self.bottom = ResidualUnit(3, enc[-1], width, norm=None)
        self.attention = nn.ModuleList(
            TransformerBlock(hidden_size=width, mlp_dim=2 * width, num_heads=heads) for _ in range(depth)
        )
        self.merge = nn.ModuleList()
        self.up = nn.ModuleList()
        c_prev = width
        for i in range(len(enc) - 1, -1, -1):  # coarse to fine: merge the skip, then up-sample
            c_out = enc[i - 1] if i > 0 else enc[0]
            self.merge.append(ResidualUnit(3, c_prev + enc[i], enc[i], norm=None))
            self.up.append(UpSample(3, enc[i], c_out, scale_factor=2, mode="deconv"))
            c_prev = c_out
        self.head = nn.Conv3d(c_prev, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.bottom(x)
        b, c, *size = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # [batch, voxels, channels]
        for block in self.attention:
            tokens = block(tokens)
        x = tokens.transpose(1, 2).reshape(b, c, *size)
        for merge, up, skip in zip(self.merge, self.up, reversed(skips), strict=True):
            x = up(merge(torch.cat([x, skip], dim=1)))
        return self.head(x)


def sinogram_unet(channels: tuple[int, ...] = (16, 32, 64, 128), res_units: int = 2) -> nn.Module:
    """MONAI residual 2-D U-Net over a sinogram ``[batch, 2, angles, columns]`` (the sinogram interpolated between
    the measured angles, and each angle's distance to a measured one): the sinogram inpainting network of
    :mod:`aet.nn.inpaint` (Ding et al. 2019's first stage)."""
    return UNet(
        spatial_dims=2, in_channels=2, out_channels=1, channels=tuple(channels), strides=(2,) * (len(channels) - 1),
        num_res_units=res_units, norm=None, act="PRELU",
    )  # fmt: skip


REGISTRY: dict[str, Callable[..., nn.Module]] = {"unet": unet, "unet-transformer": UNetTransformer,
                                                 "sinogram-unet": sinogram_unet}  # fmt: skip


def build(name: str, **options: Any) -> nn.Module:
    """A network from the registry by name, with its architecture ``options``."""
    if name not in REGISTRY:
        raise AetInputError(f"unknown network {name!r}; choose one of {', '.join(REGISTRY)}.")
    return REGISTRY[name](**options)


def stride(name: str, **options: Any) -> int:
    """Total down-sampling factor: input sizes must be multiples of it."""
    channels = options.get("channels", (16, 32, 64, 128))
    return 2 ** (len(channels) - 1)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
