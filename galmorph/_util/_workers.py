"""The one rule for how many worker processes to start."""
import os

__all__ = ["usable_cores", "default_workers"]


def usable_cores():
    """Cores this process may run on (its CPU affinity where the OS tells it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(n_tasks, *, min_tasks=1, cap=None):
    """Worker processes for ``n_tasks`` independent tasks.

    Every usable core, but no more than there are tasks or than ``cap``; 0 (work in
    the calling process) for fewer than ``min_tasks`` tasks, where starting
    processes costs more than it saves.
    """
    if n_tasks < min_tasks:
        return 0
    workers = min(usable_cores(), max(1, int(n_tasks)))
    return workers if cap is None else min(workers, int(cap))
