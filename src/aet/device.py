"""Where the arithmetic runs: the torch device a user asked for, checked, how much memory it has free, and the one
memory check every stage makes before it allocates."""

from __future__ import annotations

import os

import torch

from aet.errors import AetInputError

GB = 1024**3


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None -> CUDA when available, else CPU; a named device is checked to exist."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = torch.device("meta")  # not a device torch knows: refused below
    if dev.type not in ("cpu", "cuda"):
        raise AetInputError(f"unknown device {str(device)!r}; use auto, cpu, cuda or cuda:N.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AetInputError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use device='cpu'.")
    return dev


def available_memory(device: torch.device) -> int:
    """Free memory in bytes on ``device`` (MemAvailable on Linux for the CPU, free GPU memory for CUDA)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _fmt_bytes(n: float) -> str:
    return f"{n / GB:.2f} GB" if n >= 0.1 * GB else f"{n / 1024**2:.0f} MB"


def check_memory(needed: int, device: torch.device, what: str, limit: float | None = None) -> None:
    """Refuse a job that would not fit, before allocating anything.

    Args:
        needed: estimated peak bytes of the job.
        limit: bytes the job may use; default 90 % of the memory free on ``device`` now.
    """
    budget = 0.9 * available_memory(device) if limit is None else float(limit)
    if needed > budget:
        raise AetInputError(
            f"{what} needs about {_fmt_bytes(needed)} of {device.type.upper()} memory but only "
            f"{_fmt_bytes(budget)} is available; bin the images (e.g. 2× to halve every axis), crop them to the "
            "particle, lower thickness=, or use a machine with more memory."
        )
