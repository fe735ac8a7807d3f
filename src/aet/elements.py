"""Element symbols, atomic numbers and ADF-STEM contrast per element."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from aet.errors import AetInputError

#: Symbol for an atom of unknown species (ase's dummy element, Z = 0).
UNKNOWN = "X"

#: ADF-STEM contrast follows a Z^n law (Hartel et al., Ultramicroscopy 63, 93 (1996); n ≈ 1.7 for typical
#: high-angle detectors). The absolute scale is the integrated ADF cross-section of Si, 0.00225 Å², calibrated
#: on the multislice asi208 tilt series (counts per atom per e/Å² of dose), see docs/conventions.md.
Z_EXPONENT = 1.7
SIGMA_SI_A2 = 0.00225


def check_symbols(symbols: Iterable[str]) -> list[str]:
    """Return the symbols normalised ("pt" -> "Pt"), or raise naming the first one that is not an element."""
    out = []
    for s in symbols:
        sym = s.strip()
        sym = sym[:1].upper() + sym[1:].lower()
        if sym not in atomic_numbers:
            raise AetInputError(
                f"{s!r} is not a chemical element symbol; use symbols such as 'Pt', 'Fe' or 'Si' "
                "(or map numeric atom types to elements with elements={1: 'Ni', 2: 'Pt'})."
            )
        out.append(sym)
    return out


def atomic_number(symbols: Iterable[str]) -> np.ndarray:
    """Atomic numbers Z of the given element symbols."""
    return np.array([atomic_numbers[s] for s in check_symbols(symbols)], dtype=np.int64)


def symbol(z: int) -> str:
    """Element symbol of atomic number z."""
    if not 0 <= int(z) < len(chemical_symbols):
        raise AetInputError(f"atomic number {z} is outside the periodic table (1..{len(chemical_symbols) - 1}).")
    return chemical_symbols[int(z)]


def adf_cross_section(symbols: Iterable[str], exponent: float = Z_EXPONENT) -> np.ndarray:
    """Integrated ADF-STEM scattering cross-section per atom in Å²: σ_Si · (Z / 14)^n.

    Multiplied by the dose (e/Å²) it gives the expected detector counts one atom contributes to a projection.
    """
    z = atomic_number(symbols).astype(np.float64)
    if np.any(z == 0):
        raise AetInputError("atoms of unknown species ('X') have no contrast; set their elements first.")
    return SIGMA_SI_A2 * (z / 14.0) ** exponent
