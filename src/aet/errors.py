"""The aet exception family: every message says what is wrong and how to fix it."""


class AetError(Exception):
    """Base class of every error aet raises on purpose."""


class AetInputError(AetError, ValueError):
    """Input data has the wrong shape, size, units or values."""


class AetUsageError(AetInputError):
    """A setting, an option or the output folder is wrong: fixed by changing the command, not the data (exit 2)."""


class AetFormatError(AetError):
    """A file cannot be read or written in the requested format."""


class AetFileNotFoundError(AetError, FileNotFoundError):
    """A named input file does not exist."""


class AetSpeciesError(AetInputError):
    """The elements asked for cannot be told apart in the data (too similar in contrast, or too few atoms)."""


class AetPixelSizeWarning(UserWarning):
    """The pixel size puts neighbouring atoms implausibly few or many pixels apart (wrong unit?)."""
