"""Element symbols, atomic numbers and ADF-STEM contrast per element."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states

from aet.errors import AetInputError, AetUsageError

#: Symbol for an atom of unknown species (ase's dummy element, Z = 0).
UNKNOWN = "X"

#: ADF-STEM contrast follows a Z^n law (Hartel et al., Ultramicroscopy 63, 93 (1996); n ≈ 1.7 for typical
#: high-angle detectors). The absolute scale is the integrated ADF cross-section of Si, 0.00225 Å², calibrated
#: on the multislice asi208 tilt series (counts per atom per e/Å² of dose), see docs/conventions.md.
Z_EXPONENT = 1.7
SIGMA_SI_A2 = 0.00225


def check_symbols(symbols: Iterable[str], unknown: bool = True) -> list[str]:
    """Return the symbols normalised ("pt" -> "Pt"), or raise naming the first one that is not an element.

    ``unknown``: also accept :data:`UNKNOWN` ("X", an atom of unknown species in a model); species a user says are
    present (``unknown=False``) must be real elements, and a wrong one is the command's fault (AetUsageError)."""
    out = []
    for s in symbols:
        sym = s.strip()
        sym = sym[:1].upper() + sym[1:].lower()
        if sym not in atomic_numbers or (sym == UNKNOWN and not unknown):
            raise (AetInputError if unknown else AetUsageError)(
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


#: Nearest-neighbour distance / lattice constant of each elemental crystal structure ASE records.
_NN_PER_A = {"fcc": 0.5**0.5, "bcc": 3**0.5 / 2, "hcp": 1.0, "diamond": 3**0.5 / 4, "sc": 1.0}


def nearest_neighbour_distance(symbol: str) -> float:
    """Nearest-neighbour distance (Å) in the element's own crystal (ASE's reference state: Ta 2.87, Pt 2.77,
    Si 2.35), else twice its covalent radius."""
    z = atomic_numbers[symbol]
    state: dict[str, Any] = reference_states[z] or {}
    symmetry = str(state.get("symmetry"))
    if symmetry in _NN_PER_A and "a" in state:
        return float(state["a"]) * float(_NN_PER_A[symmetry])
    if symmetry == "diatom":
        return float(state["d"])
    return float(2 * covalent_radii[z])
