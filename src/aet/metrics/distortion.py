"""Global (affine) distortion of a model against its ground truth: rotation, stretch, and what is left.

A reconstruction from few projections distorts a crystal as a whole: each Bragg reflection of the lattice is sampled
only where a projection's central plane cuts it, off its centre when the planes are sparse (and not at all inside
the missing wedge), so the lattice in the tomogram comes out slightly rotated and strained (sizes measured with
``benchmarks/augmentation.py`` are in docs/benchmarks.md). Such a map moves atoms far from the centre the most and
makes RMSD grow with particle size; a network that sees one window at a time cannot tell it from a real strain.
:func:`global_distortion` fits the affine map from the true to the matched model positions and splits the error into
that map (polar decomposition: rotation × symmetric stretch) and the per-atom residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import polar
from scipy.spatial.transform import Rotation

from aet.errors import AetInputError
from aet.metrics.matching import Comparison, _rms
from aet.model import AtomicModel


@dataclass(frozen=True)
class Distortion:
    """Best-fit affine map ``model ≈ R·S·(truth − centroid) + t`` of the matched pairs.

    Attributes:
        rotation_deg: angle of the rotation R, degrees.
        rotation_axis: its unit axis (x, y, z).
        strain_xyz: S − 1 along x, y and z (fractions; 0.01 = 1 % longer in the model).
        principal_strain: eigenvalues of S − 1, smallest first (fractions).
        rmsd_pm: RMSD of the pairs after the rigid shift alone (as :func:`aet.metrics.compare` reports), pm.
        residual_rmsd_pm: RMSD left after removing the affine map as well, pm.
        n_pairs: matched pairs used.
    """

    rotation_deg: float
    rotation_axis: tuple[float, float, float]
    strain_xyz: tuple[float, float, float]
    principal_strain: tuple[float, float, float]
    rmsd_pm: float
    residual_rmsd_pm: float
    n_pairs: int

    def summary(self) -> str:
        """One line for a report, e.g. ``rotation 0.52° about (0.10, 0.98, 0.17); strain x −0.79 % …``."""
        ax = ", ".join(f"{v:.2f}" for v in self.rotation_axis)
        strain = ", ".join(f"{c} {100 * v:+.2f} %" for c, v in zip("xyz", self.strain_xyz, strict=True))
        return (f"global distortion (affine fit of {self.n_pairs} pairs): rotation {self.rotation_deg:.2f}° about "
                f"({ax}); strain {strain}; RMSD {self.rmsd_pm:.1f} pm, {self.residual_rmsd_pm:.1f} pm without it")


def global_distortion(comparison: Comparison, truth: AtomicModel | np.ndarray) -> Distortion:
    """Fit the affine map between the pairs of ``comparison`` (from ``compare(model, truth)``) and split it.

    Needs at least 4 pairs that do not lie in one plane.
    """
    true_pos = truth.positions if isinstance(truth, AtomicModel) else np.asarray(truth, dtype=np.float64)
    t = true_pos[comparison.truth_index]
    q = t - comparison.displacement  # the shifted model's positions of the pairs (displacement = truth − model)
    if len(t) < 4:
        raise AetInputError(f"an affine fit needs at least 4 matched atoms, this comparison has {len(t)}")
    x = np.c_[t - t.mean(axis=0), np.ones(len(t))]
    if np.linalg.matrix_rank(x) < 4:
        raise AetInputError("the matched atoms lie in one plane or line: their affine distortion is undefined")
    coef, *_ = np.linalg.lstsq(x, q, rcond=None)
    rotation, stretch = polar(coef[:3].T)  # M = R S with R a rotation (det > 0 for any sane model) and S symmetric
    rotvec = Rotation.from_matrix(rotation).as_rotvec()
    angle = float(np.linalg.norm(rotvec))
    axis = rotvec / angle if angle > 0 else np.array([0.0, 0.0, 1.0])
    residual = q - x @ coef
    return Distortion(
        rotation_deg=float(np.degrees(angle)),
        rotation_axis=tuple(float(v) for v in axis),
        strain_xyz=tuple(float(v) for v in np.diag(stretch) - 1.0),
        principal_strain=tuple(float(v) for v in np.linalg.eigvalsh(stretch) - 1.0),
        rmsd_pm=comparison.rmsd_pm,
        residual_rmsd_pm=_rms(residual),
        n_pairs=len(t),
    )  # fmt: skip
