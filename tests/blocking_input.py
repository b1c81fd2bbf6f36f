"""An input file that holds a command mid-run, for signal tests that cannot race.

A named pipe (FIFO) in place of an image: the process that opens it to decode it
blocks until a writer opens the other end, and then in ``read`` until the writer closes
it. :func:`hold_reader` waits until the command has opened it, and keeps it open. So a
signal sent then lands while the command is certainly mid-run, however slow or busy the
machine is; a test that timed its signal against a running command could instead find
the work already done. Import it as ``from blocking_input import ...`` (pyproject.toml puts
tests/ on ``sys.path``).
"""
import contextlib
import errno
import os
import signal
import time

__all__ = ["blocking_file", "hold_reader", "worker_noise", "sigint_default"]


def blocking_file(path):
    """Make ``path`` a FIFO (removing what is there); returns the path."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


@contextlib.contextmanager
def hold_reader(fifo, proc, timeout=600):
    """Wait until ``proc`` (or a child of it) opened ``fifo`` to read; hold it there.

    Yields once the reader is blocked on the FIFO; the block's end releases it
    (end of file). Fails if ``proc`` exits first or after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if proc.poll() is not None:
            raise AssertionError(f"the command exited ({proc.returncode}) before it opened "
                                 f"{fifo}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the command did not open {fifo} in {timeout} s")
        time.sleep(0.02)
    try:
        yield
    finally:
        os.close(fd)


def worker_noise(stderr):
    """The lines of ``stderr`` that a worker process printed on a Ctrl-C (a traceback, or
    multiprocessing's ``Process SpawnPoolWorker-1:`` header of one)."""
    return [line for line in stderr.splitlines()
            if "Traceback" in line or "PoolWorker" in line or "KeyboardInterrupt" in line
            or line.startswith("Process ")]


def sigint_default():
    """``preexec_fn`` for a child that must act on SIGINT: a test run from a background job
    of a non-interactive shell (``pytest &`` in a script) inherits SIGINT ignored, and
    Python then installs no ``KeyboardInterrupt`` handler, so the command would never
    stop (as POSIX means it for background jobs)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
