"""Network registry: the volume networks map [b, 1, z, y, x] to the same shape, the sinogram network
[b, 2, angles, columns] to [b, 1, angles, columns]."""

from __future__ import annotations

import pytest
import torch

from aet.errors import AetInputError
from aet.nn.models import REGISTRY, build, count_parameters, stride


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shapes(name: str) -> None:
    net = build(name, channels=(4, 8, 16, 32))
    sinogram = name == "sinogram-unet"
    x = torch.randn(2, 2, 24, 32) if sinogram else torch.randn(2, 1, 16, 24, 32)
    assert stride(name, channels=(4, 8, 16, 32)) == 8
    assert net(x).shape == (x.shape[0], 1, *x.shape[2:])
    assert count_parameters(net) > 1000


def test_unknown_network() -> None:
    with pytest.raises(AetInputError, match="unknown network"):
        build("resnet")
