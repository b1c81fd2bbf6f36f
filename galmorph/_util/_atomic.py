"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Checkpoints, run configs, metrics, cache metadata, prediction tables and the
default-model registry are all written through :func:`atomic_open`,
:func:`atomic_path` or :func:`replace_atomic`, so a ``kill -9`` at any moment
leaves every file whole (the basis of ``galmorph train --resume`` and of
resumable ``galmorph prepare``).

Fault injection (test-only)
---------------------------
``GALMORPH_FAULT_INJECT`` makes the final step of an atomic write (the rename
into place) fail as if the disk were full, so that tests and
``benchmarks/faults.py`` can check that finished work is saved elsewhere. It is
a ``;``-separated list of ``ERRNO:PATTERN`` items, e.g.
``ENOSPC:/data/out/*``: a write whose absolute target path matches the
:func:`fnmatch.fnmatch` ``PATTERN`` raises ``OSError(errno.ERRNO)``; an
unknown errno name gives ``EIO``. Leave it unset in normal use; galmorph never
sets it.
"""
import errno
import fnmatch
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open", "atomic_path", "replace_atomic", "write_text_atomic", "FAULT_ENV"]

#: Environment variable of the test-only fault injection (see the module docstring).
FAULT_ENV = "GALMORPH_FAULT_INJECT"


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


def _injected_fault(path):
    """The OSError ``$GALMORPH_FAULT_INJECT`` asks for on a write to ``path``, or None."""
    spec = os.environ.get(FAULT_ENV, "").strip()
    if not spec:
        return None
    target = os.path.abspath(path)
    for item in spec.split(";"):
        name, _, pattern = item.strip().partition(":")
        if name and fnmatch.fnmatch(target, pattern or "*"):
            code = getattr(errno, name.strip().upper(), errno.EIO)
            return OSError(code, f"{os.strerror(code)} (injected by ${FAULT_ENV})", str(path))
    return None


def replace_atomic(src, dst):
    """Rename the finished file ``src`` over ``dst`` (same folder), durably.

    ``src`` is fsynced first; ``dst`` is replaced whole or not at all.
    """
    fault = _injected_fault(dst)
    if fault is not None:
        raise fault
    with open(src, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(src, dst)
    _fsync_dir(Path(dst).parent)


def _temp_beside(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            # mkstemp makes the file private (0600); give it the usual permissions.
            os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


@contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        kwargs = {} if "b" in mode else {"newline": "", "encoding": "utf-8"}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        fault = _injected_fault(path)
        if fault is not None:
            raise fault
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_path(path):
    """Yield a temporary file name beside ``path`` for a writer that wants a name
    (astropy, PIL); on success it is renamed over ``path``, on failure removed.

    The temporary file exists (empty) when yielded: writers need ``overwrite=True``.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        replace_atomic(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)
