"""Local crystal structure per atom (adaptive common-neighbour analysis), twin planes, stacking faults, grains.

Adaptive CNA (Stukowski, Modelling Simul. Mater. Sci. Eng. 20, 045021 (2012)) written here with NumPy: freud has
no CNA, and OVITO's Python module, which has, is a 116 MB wheel (measured 2026-11-28) — too heavy for a default
stage. Every atom's 12 (fcc, hcp, icosahedral) or 14 (bcc) nearest neighbours are classified at once as batched
12 × 12 adjacency matrices, so 100,000 atoms take seconds.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from aet.analysis.neighbours import SHELL_FACTOR

#: Structure names, indexed by the integer codes of :func:`structure_types`.
STRUCTURES = ("other", "fcc", "hcp", "bcc", "ico")
OTHER, FCC, HCP, BCC, ICO = range(5)


def _signatures(
    pos: npt.NDArray[np.float64], centre: npt.NDArray[np.int64], nbr: npt.NDArray[np.int64], rc: npt.NDArray[np.float64]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:  # fmt: skip
    """CNA triplets of the bonds of atoms ``centre`` to their ``k`` listed neighbours: common neighbours, bonds among
    them, and the most of those bonds meeting at one atom (1: disjoint bonds, as in 421; 2: a chain, as in 422)."""
    vec = pos[nbr] - pos[centre][:, None]  # [N, k, 3]
    dist = np.linalg.norm(vec[:, :, None] - vec[:, None], axis=-1)
    adj = (dist < rc[:, None, None]).astype(np.float32)
    k = nbr.shape[1]
    adj[:, np.arange(k), np.arange(k)] = 0
    common = adj.sum(-1)
    # deg[n, a, b]: for bond a, how many bonds common neighbour b has to other common neighbours of a.
    deg = adj * (adj @ adj)
    return common.astype(np.int64), (deg.sum(-1) / 2).astype(np.int64), deg.max(-1).astype(np.int64)


def structure_types(positions: npt.NDArray[np.float64], chunk: int = 20000) -> npt.NDArray[np.int64]:
    """Adaptive-CNA structure code of each atom (see :data:`STRUCTURES`); surface atoms are "other"."""
    pos = np.asarray(positions, dtype=np.float64)
    n = len(pos)
    out = np.full(n, OTHER, dtype=np.int64)
    if n < 13:
        return out
    k = min(15, n)
    d, idx = cKDTree(pos).query(pos, k=k)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        p_idx, p_d = idx[sl], d[sl]
        rc = SHELL_FACTOR * p_d[:, 1:13].mean(1)
        cn, nb, mx = _signatures(pos, p_idx[:, 0], p_idx[:, 1:13], rc)
        s421 = ((cn == 4) & (nb == 2) & (mx == 1)).sum(1)
        s422 = ((cn == 4) & (nb == 2) & (mx == 2)).sum(1)
        s555 = ((cn == 5) & (nb == 5) & (mx == 2)).sum(1)
        codes = np.full(len(rc), OTHER)
        codes[s421 == 12] = FCC
        codes[(s421 == 6) & (s422 == 6)] = HCP
        codes[s555 == 12] = ICO
        if k == 15:
            rest = np.flatnonzero(codes == OTHER)
            if len(rest):
                dd = p_d[rest]
                rc_b = SHELL_FACTOR * (2 / 3**0.5 * dd[:, 1:9].mean(1) + dd[:, 9:15].mean(1)) / 2
                cn, nb, mx = _signatures(pos, p_idx[rest, 0], p_idx[rest, 1:15], rc_b)
                s666 = ((cn == 6) & (nb == 6) & (mx == 2)).sum(1)
                s444 = ((cn == 4) & (nb == 4) & (mx == 2)).sum(1)
                codes[rest[(s666 == 8) & (s444 == 6)]] = BCC
        out[sl] = codes
    return out


def planar_defects(positions: npt.NDArray[np.float64], types: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """"twin" or "stacking_fault" for hcp atoms in an fcc crystal, "none" for the rest.

    A coherent twin plane is one hcp layer: each of its atoms has 6 hcp neighbours (in the plane) among its 12.
    An intrinsic stacking fault is two adjacent hcp layers: 9 of 12.
    """
    out = np.full(len(types), "none", dtype="<U14")
    hcp = np.flatnonzero(types == HCP)
    if len(hcp) == 0:
        return out
    _, idx = cKDTree(positions).query(positions[hcp], k=13)
    n_hcp = (types[idx[:, 1:]] == HCP).sum(1)
    out[hcp] = np.where(n_hcp <= 7, "twin", "stacking_fault")
    return out


def grains(
    positions: npt.NDArray[np.float64], types: npt.NDArray[np.int64], cutoff: float, min_atoms: int = 20
) -> npt.NDArray[np.int64]:
    """Grain index per atom (−1 for none): connected fcc (or bcc) regions, split by twin planes and other defects.

    Grains of fewer than ``min_atoms`` crystalline atoms are dropped. Non-crystalline atoms touching a grain (its
    surface atoms, which have fewer than 12 neighbours) join the grain most of their neighbours belong to; hcp
    (twin and fault) atoms stay between grains. Low-angle boundaries inside one structure are not split.
    """
    n = len(positions)
    label = np.full(n, -1, dtype=np.int64)
    tree = cKDTree(positions)
    pairs = tree.query_pairs(cutoff, output_type="ndarray")
    for code in (FCC, BCC):
        members = types == code
        keep = pairs[members[pairs[:, 0]] & members[pairs[:, 1]]]
        graph = coo_matrix((np.ones(len(keep)), (keep[:, 0], keep[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        comp = np.where(members, comp, -1)
        ids, counts = np.unique(comp[comp >= 0], return_counts=True)
        for cid in ids[np.argsort(-counts)][counts[np.argsort(-counts)] >= min_atoms]:
            label[comp == cid] = label.max() + 1
    both = np.concatenate([pairs, pairs[:, ::-1]])
    for _ in range(2):  # two passes: surface atoms, then the odd corner atom next to them
        free = (label < 0) & (types != HCP)
        edges = both[free[both[:, 0]] & (label[both[:, 1]] >= 0)]
        if len(edges) == 0:
            break
        votes = coo_matrix((np.ones(len(edges)), (edges[:, 0], label[edges[:, 1]])), shape=(n, label.max() + 1))
        votes_csr = votes.tocsr()
        rows = np.unique(edges[:, 0])
        label[rows] = np.asarray(votes_csr[rows].argmax(axis=1)).ravel()
    return label
