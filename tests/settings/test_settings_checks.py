"""Settings refuse wrong values with one sentence when they are made, before any stage runs."""

from __future__ import annotations

import pytest

from aet.errors import AetInputError
from aet.nn.weights import network_for, resolve
from aet.pipeline.config import load_config
from aet.settings.augment import AugmentSettings
from aet.settings.reconstruct import ResireSettings
from aet.settings.run import InputSettings
from aet.settings.trace import TraceSettings


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ResireSettings(iterations=1.5), "resire.iterations must be a whole number"),
        (lambda: ResireSettings(iterations="fifty"), "whole number"),
        (lambda: ResireSettings(iterations=0), "iterations must be between 1 and 100000"),
        (lambda: ResireSettings(step=2.5), "RESIRE step"),
        (lambda: ResireSettings(momentum="yes"), "true or false"),
        (lambda: TraceSettings(min_distance=float("nan")), "finite number"),
        (lambda: TraceSettings(classify="svm"), "unknown trace.classify 'svm'; use one of kmeans, gmm"),
        (lambda: AugmentSettings(tta=9), "between 1 and 8"),
        (lambda: InputSettings(elements=[]), "non-empty list"),
    ],
)
def test_wrong_values_are_refused(make, match) -> None:
    with pytest.raises(AetInputError, match=match):
        make()


def test_one_element_as_text_is_one_element() -> None:
    assert InputSettings(elements="Ni").elements == ("Ni",)
    assert InputSettings(elements="Fe, Pt").elements == ("Fe", "Pt")


def test_toml_errors_name_the_table(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[refine]\niterations = "fifty"\n')
    with pytest.raises(AetInputError, match="refine.iterations must be a whole number"):
        load_config(bad)
    bad.write_text("[trace]\nmin_dist = 2\n")
    with pytest.raises(AetInputError, match=r"unknown key\(s\) min_dist for \[trace\]"):
        load_config(bad)
    bad.write_text('[reconstruct]\nmethod = "wbp"\niterations = 5\n')
    with pytest.raises(AetInputError, match="unknown key.*iterations.*for method wbp"):
        load_config(bad)
    bad.write_text("[tracing]\n")
    with pytest.raises(AetInputError, match=r"unknown table \[tracing\]"):
        load_config(bad)


def test_auto_network_follows_the_elements() -> None:
    assert AugmentSettings().model == "auto"
    assert network_for("auto", ["Pt"]) == "default"
    assert network_for("auto", ["Si", "Si"]) == "default"
    assert network_for("auto", ["Fe", "Pt"]) == "unet-alloy"
    assert network_for("unet", ["Fe", "Pt"]) == "unet"  # an explicit choice stands
    assert resolve(network_for("auto", ["Pd", "Pt"])).exists()  # a shipped network
