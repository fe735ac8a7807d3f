"""aet.nn.card: the model card's typed form reads every shipped card and writes it back unchanged."""

from __future__ import annotations

import json

import pytest

from aet.errors import AetFormatError
from aet.nn import weights
from aet.nn.card import ModelCard


@pytest.mark.parametrize("name", weights.shipped_names())
def test_shipped_cards_round_trip(name: str) -> None:
    text = json.loads((weights.SHIPPED / f"{name}.json").read_text())
    card = ModelCard.from_dict(text)
    assert card.name == name and card.architecture.stride > 0 and card.voxel_size > 0
    assert card.to_dict() == {"trace": {}, **text}  # an absent recommendation is written as {}


def test_card_errors_name_the_file() -> None:
    text = json.loads((weights.SHIPPED / "unet.json").read_text())
    with pytest.raises(AetFormatError, match=r"card X.json lacks \['window'\]"):
        ModelCard.from_dict({k: v for k, v in text.items() if k != "window"}, where="the model card X.json")
    with pytest.raises(AetFormatError, match="malformed"):
        ModelCard.from_dict({**text, "architecture": {"name": "unet"}})  # no stride


def test_loaded_cards_are_copies() -> None:
    _, card = weights.load("unet")
    card.trace["min_height"] = -1.0
    assert weights.load("unet")[1].trace.get("min_height") != -1.0
