"""aet: neural-network-assisted atomic electron tomography."""

import aet.io  # noqa: F401  (aet.io.read / aet.io.write)
from aet.errors import AetError

__version__ = "0.1.0"
__all__ = ["AetError", "__version__"]
