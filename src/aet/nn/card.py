"""A network's model card: what the weights need to be used right, read from and written to ``NAME.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aet.errors import AetFormatError

#: The card's keys that :class:`ModelCard` types; every other key (training data, training settings, validation,
#: benchmark figures, how to retrain) is kept, in order, in ``ModelCard.extra``.
_TYPED = ("name", "version", "created", "architecture", "voxel_size", "window", "reconstruction", "trace")
_REQUIRED = {"name", "voxel_size", "window", "architecture", "reconstruction"}


@dataclass(frozen=True)
class Architecture:
    """The network class (``aet.nn.models.build`` name), its options, its stride (voxels) and parameter count."""

    name: str
    options: dict[str, Any]
    stride: int
    parameters: int | None = None


@dataclass(frozen=True)
class ModelCard:
    """What a network needs and promises.

    Attributes:
        name, version, created: the model's identity.
        architecture: see :class:`Architecture`.
        voxel_size: the voxel size (Å) the network was trained at; inputs are resampled to it.
        window: the edge (voxels) of the windows it is applied in.
        reconstruction: the reconstruction settings its training inputs came from (method, iterations, support,
            positivity); others work, less accurately.
        trace: tracing settings recommended for its output (e.g. ``min_height``, a fraction of the peak height).
        extra: every other key of the card, kept as written.
    """

    name: str
    architecture: Architecture
    voxel_size: float
    window: int
    reconstruction: dict[str, Any]
    version: int | None = None
    created: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "the model card") -> ModelCard:
        """The card from its JSON form; ``where`` names the file in errors."""
        missing = _REQUIRED - set(d)
        if missing:
            raise AetFormatError(f"{where} lacks {sorted(missing)}; was it written by `aet train`?")
        a = d["architecture"]
        try:
            arch = Architecture(str(a["name"]), dict(a.get("options", {})), int(a["stride"]), a.get("parameters"))
            return cls(
                name=str(d["name"]), architecture=arch, voxel_size=float(d["voxel_size"]), window=int(d["window"]),
                reconstruction=dict(d["reconstruction"]), version=d.get("version"), created=d.get("created"),
                trace=dict(d.get("trace") or {}), extra={k: v for k, v in d.items() if k not in _TYPED},
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise AetFormatError(f"{where} has a malformed entry ({err!r}); was it written by `aet train`?") from err

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the typed keys first and ``extra`` after them."""
        a = self.architecture
        typed = {
            "name": self.name, "version": self.version, "created": self.created,
            "architecture": {"name": a.name, "options": a.options, "stride": a.stride, "parameters": a.parameters},
            "voxel_size": self.voxel_size, "window": self.window, "reconstruction": self.reconstruction,
            "trace": self.trace,
        }  # fmt: skip
        return {**typed, **self.extra}
