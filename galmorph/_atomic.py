"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Checkpoints, run configs, metrics, cache metadata and the default-model
registry are all written through :func:`atomic_open`, so a ``kill -9`` at any
moment leaves every file whole (the basis of ``galmorph train --resume`` and
of resumable ``galmorph prepare``).
"""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open", "write_text_atomic"]


def _umask():
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _fsync_dir(folder):
    # Make the rename itself durable; not possible on every OS (e.g. Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            # mkstemp makes the file private (0600); give it the usual permissions.
            os.fchmod(fd, 0o666 & ~_umask())
        kwargs = {} if "b" in mode else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)
