"""One progress bar for every long step (prepare, train, predict, classify, synth).

On a terminal it is tqdm's bar, redrawn in place. Anywhere else (a log file, CI,
a pipe) a bar's redraws end up as separate lines, so there it is drawn at most
every ``LOG_INTERVAL`` seconds and its final state exactly once: tqdm's
``close()`` repaints the last state even when the last update already showed it,
which printed "100%" twice in every log.
"""
import sys

__all__ = ["progress_bar", "LOG_INTERVAL", "show_progress"]

#: Seconds between two redraws of a bar that is not on a terminal.
LOG_INTERVAL = 30.0


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def show_progress(progress, stream=None):
    """Whether to draw bars: ``progress`` if given, else whether ``stream`` (stderr) is a terminal.

    The command line passes ``None`` when neither ``--progress`` nor
    ``--no-progress`` was given.
    """
    if progress is not None:
        return bool(progress)
    return _isatty(sys.stderr if stream is None else stream)


def _log_bar_class():
    from tqdm.std import tqdm

    class _LogBar(tqdm):
        """A tqdm that never draws the same final state twice (for logs)."""

        _closing = False
        _shown_n = None

        def display(self, msg=None, pos=None):
            if self._closing and msg is None and self._shown_n == self.n:
                return True      # close(): the final state is already on its line
            if msg is None:
                self._shown_n = self.n
            return super().display(msg, pos)

        def close(self):
            self._closing = True
            super().close()

    return _LogBar


def progress_bar(iterable=None, *, total=None, desc=None, unit="it", enabled=True,
                 leave=True, file=None, **kwargs):
    """A tqdm progress bar on stderr, silent when ``enabled`` is false.

    Parameters
    ----------
    iterable : iterable, optional
        Wrapped as tqdm wraps it.
    total : int, optional
        Number of steps, where ``iterable`` has no length.
    desc, unit : str
        Label and unit of the bar.
    enabled : bool
        Draw the bar (``False`` gives a silent bar with the same methods).
    leave : bool
        Keep the finished bar on screen.
    file : file object, optional
        Where to draw (default: ``sys.stderr``).
    **kwargs
        Passed on to tqdm (``initial``, ``unit_scale``, ``dynamic_ncols``, ...).

    Returns
    -------
    tqdm.tqdm
    """
    stream = sys.stderr if file is None else file
    if _isatty(stream) or "ipykernel" in sys.modules:   # a terminal, or a notebook's widget
        from tqdm.auto import tqdm as cls
    else:
        cls = _log_bar_class()
        kwargs.setdefault("mininterval", LOG_INTERVAL)
    return cls(iterable, total=total, desc=desc, unit=unit, disable=not enabled, leave=leave,
               file=stream, **kwargs)
