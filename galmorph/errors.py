"""Exceptions raised by galmorph.

Every error names the file, row or column at fault and says what to do.
They subclass the built-in exception a user would expect (``ValueError`` for
bad data, ``OSError`` for I/O), so ``except ValueError`` keeps working.
"""

__all__ = ["GalmorphError", "DataError", "CheckpointError", "RunDirError", "CutoutError",
           "NoModelError"]


class GalmorphError(Exception):
    """Base class of all galmorph errors."""


class DataError(GalmorphError, ValueError):
    """A data folder, table or image is missing, malformed or breaks the GZ2 tree."""


class CheckpointError(GalmorphError, ValueError):
    """A checkpoint is truncated, foreign or from another model or schema."""


class RunDirError(GalmorphError, ValueError):
    """A run directory already holds a different run."""


class CutoutError(GalmorphError, OSError):
    """An image cutout could not be fetched from the survey service."""


class NoModelError(GalmorphError, FileNotFoundError):
    """No model was given and no default model is registered."""
