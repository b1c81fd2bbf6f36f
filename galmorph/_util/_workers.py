"""Worker processes: how many to start, and how to start them so that Ctrl-C stays the parent's.

A Ctrl-C in a terminal sends SIGINT to every process of the foreground group, workers
included. Left alone, each worker raises ``KeyboardInterrupt`` and prints a traceback
(``Process SpawnPoolWorker-1:``) before the parent can say "interrupted". So workers ignore
SIGINT, and the parent, which alone handles it, terminates them. :func:`worker_pool` makes
them ignore it from their first instruction: while a pool starts, the parent holds SIGINT
(blocked and ignored), which a forked child inherits and a spawned one keeps across
``exec``, so that Python there never installs its ``KeyboardInterrupt`` handler. A Ctrl-C
that lands meanwhile is not lost: blocked, it waits and reaches the parent the moment the
pool has started.
"""
import contextlib
import os
import signal
import threading

__all__ = ["usable_cores", "default_workers", "can_hold_sigint", "sigint_held", "worker_pool", "imap_results",
           "wait_result", "wait_futures"]

#: Seconds the main thread waits for workers at a time. Python runs its signal handlers in
#: the main thread only, between bytecodes; a SIGINT that the kernel hands to another thread
#: (a pool's helper, tqdm's monitor, an OpenMP thread: Linux does so where the main thread
#: blocks it or already has a signal pending) would leave a main thread blocked in a lock
#: wait without a time-out asleep for good. Waiting in ticks, it acts within one.
TICK = 0.2


def usable_cores():
    """Cores this process may run on (its CPU affinity where the OS tells it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(n_tasks, *, min_tasks=1, cap=None, reserve=0):
    """Worker processes for ``n_tasks`` independent tasks: the one worker-count rule.

    Every usable core but ``reserve`` (left to the calling process, at least one worker
    all the same), but no more than there are tasks or than ``cap``; 0 (work in the
    calling process) for fewer than ``min_tasks`` tasks, where starting processes costs
    more than it saves.
    """
    if n_tasks < min_tasks:
        return 0
    workers = min(max(1, usable_cores() - int(reserve)), max(1, int(n_tasks)))
    return workers if cap is None else min(workers, int(cap))


def can_hold_sigint():
    """True where this thread may block SIGINT for the process: the main thread, on a
    system with ``pthread_sigmask`` (not Windows)."""
    return (hasattr(signal, "pthread_sigmask")
            and threading.current_thread() is threading.main_thread())


@contextlib.contextmanager
def sigint_held(start_method=None):
    """Start child processes inside this block: they ignore SIGINT from the start.

    In the parent, SIGINT is blocked and ignored for the block's duration, then
    restored; one that arrived meanwhile stays pending (Linux never discards a
    blocked signal) and is delivered, as ``KeyboardInterrupt``, on leaving the
    block. Off the main thread, or where signals cannot be blocked (Windows),
    nothing is held: workers then rely on :func:`ignore_sigint` alone.
    """
    if not can_hold_sigint():
        yield
        return
    if start_method in ("spawn", "forkserver"):
        # The resource tracker's first start unblocks SIGINT when done: start it first.
        from multiprocessing import resource_tracker
        resource_tracker.ensure_running()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    old_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_handler)   # not SIG_IGN: a pending SIGINT survives
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def ignore_sigint(initializer=None, *initargs):
    """Pool initializer: ignore Ctrl-C (the parent handles it), then run ``initializer``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def worker_pool(processes, *, start_method=None, initializer=None, initargs=()):
    """A :class:`multiprocessing.pool.Pool` whose workers never see Ctrl-C.

    The caller handles ``KeyboardInterrupt`` and calls ``pool.terminate()``
    (a ``with`` block does); it waits for results with :func:`imap_results` or
    :func:`wait_result`, not a bare ``get()``.
    """
    import multiprocessing

    ctx = multiprocessing.get_context(start_method)
    with sigint_held(ctx.get_start_method()):
        return ctx.Pool(processes, ignore_sigint, (initializer, *initargs))


def imap_results(iterator):
    """The items of a ``Pool.imap`` / ``imap_unordered`` iterator, waited for in ticks."""
    import multiprocessing

    while True:
        try:
            yield iterator.next(TICK)
        except multiprocessing.TimeoutError:
            continue
        except StopIteration:
            return


def wait_result(handle):
    """``handle.get()`` of a ``Pool`` ``AsyncResult``, waited for in ticks."""
    import multiprocessing

    while True:
        try:
            return handle.get(TICK)
        except multiprocessing.TimeoutError:
            continue


def wait_futures(futures):
    """The results of ``concurrent.futures`` futures, in order, waited for in ticks."""
    import concurrent.futures

    pending = set(futures)
    while pending:
        _, pending = concurrent.futures.wait(pending, timeout=TICK)
    return [f.result() for f in futures]
