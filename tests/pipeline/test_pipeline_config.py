"""The settings of aet run: the network chosen for ``[augment] model = "auto"``."""

from __future__ import annotations

from aet.nn.weights import resolve
from aet.pipeline.config import DEFAULTS, network_for


def test_auto_network_follows_the_elements() -> None:
    assert DEFAULTS["augment"]["model"] == "auto"
    assert network_for("auto", ["Pt"]) == "default"
    assert network_for("auto", ["Si", "Si"]) == "default"
    assert network_for("auto", ["Fe", "Pt"]) == "unet-alloy"
    assert network_for("unet", ["Fe", "Pt"]) == "unet"  # an explicit choice stands
    assert resolve(network_for("auto", ["Pd", "Pt"])).exists()  # a shipped network
