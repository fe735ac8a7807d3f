"""Image preparation before reconstruction: denoising (:mod:`aet.prepare.denoise`)."""

from aet.prepare.denoise import DENOISERS, denoise

__all__ = ["DENOISERS", "denoise"]
