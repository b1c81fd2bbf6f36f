"""Worker side of survey classification: one model per process, torch threads per worker.

A worker process classifies many partitions; it must not load the checkpoint
for each. :func:`classifier_for` keeps one loaded
:class:`~galmorph.astro.classifier.MorphologyClassifier` per process and per
model, device, precision and trust settings (``intervals``, ``merger_rule`` and
``merger_threshold``, which ``load`` fixes and checks against the model's
calibration). A cheap copy with the partition's
:class:`~galmorph.workflows.survey.SurveySettings` is handed to each partition,
so threads of one worker share the weights but not the per-run state.
:class:`ModelPlugin`, registered on a ``distributed`` cluster by
:func:`prepare_workers`, loads it when a worker starts (and on workers that
join later) and sets the worker's torch threads first.

Threads: ``N`` dask threads on a machine with ``C`` cores each get
``max(1, C // N)`` torch threads, so two 1-thread workers on 2 cores use one
thread each rather than two (Dask's nanny sets ``OMP_NUM_THREADS=1``, which
would leave a single 1-thread worker on a 16-core machine using one core).
"""
from __future__ import annotations

import copy
import hashlib
import os
import threading

from galmorph._util._workers import usable_cores

__all__ = ["classifier_for", "ModelPlugin", "prepare_workers", "current_client",
           "resolve_threads", "worker_stats"]

_LOCK = threading.Lock()
_CACHE = {}           # _load_key(settings) -> loaded MorphologyClassifier
_STATS = {"loads": 0, "partitions": 0, "torch_threads": None}


def resolve_threads(threads=None, host_threads=None, cpus=None):
    """Torch threads for one dask thread: ``threads`` if given, else ``cpus // host_threads``.

    Parameters
    ----------
    threads : int, optional
        An explicit choice (wins).
    host_threads : int, optional
        Dask threads of all workers on this machine (default 1).
    cpus : int, optional
        Cores available (default: :func:`galmorph._util._workers.usable_cores`).
    """
    if threads is not None:
        return max(1, int(threads))
    cpus = usable_cores() if cpus is None else cpus
    return max(1, cpus // max(1, int(host_threads or 1)))


def _set_torch_threads(n):
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _STATS["torch_threads"] = torch.get_num_threads()


def classifier_for(settings, *, torch_threads=None, count=True):
    """The loaded classifier of ``settings`` for this process (loaded on first use).

    ``torch_threads`` (or ``settings.threads``) is applied before the first
    load; inside a ``distributed`` worker without the plugin, the worker's
    share of its cores (``cores // worker threads``) is used. ``count`` adds one to the
    ``partitions`` counter of :func:`worker_stats`.
    """
    kwargs = {**settings.classifier_kwargs(), "progress": False}   # no bars on workers
    key = _load_key(settings)
    with _LOCK:
        clf = _CACHE.get(key)
        if clf is None:
            n = torch_threads if torch_threads is not None else settings.threads
            if n is None:
                n = _worker_share()
            if n is not None:
                _set_torch_threads(n)
            from galmorph.astro.classifier import MorphologyClassifier

            clf = MorphologyClassifier(**kwargs).load()
            _CACHE[key] = clf
            _STATS["loads"] += 1
        _STATS["partitions"] += int(count)
    clf = copy.copy(clf)  # shares model_; own per-run state (the network guard)
    for name, value in kwargs.items():  # the constructor only stores its arguments
        setattr(clf, name, value)
    return clf


def _load_key(settings):
    """What a loaded classifier depends on: the model, where and how it runs, and the trust
    settings that ``MorphologyClassifier.load`` fixes (and checks against the model's
    calibration), so that a later run with another merger rule or interval level never
    gets a classifier loaded for an earlier one."""
    return (settings.model, settings.device, settings.precision, settings.intervals,
            settings.merger_rule, settings.merger_threshold)


def _worker_share():
    """Torch threads inside a distributed worker that has no plugin (None elsewhere)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return resolve_threads(None, worker.state.nthreads)


def worker_stats():
    """This process's counters: ``pid``, ``loads`` (models loaded), ``partitions`` and
    ``torch_threads`` (for tests and ``client.run``)."""
    return {"pid": os.getpid(), **_STATS}


def current_client():
    """The running ``distributed`` client, or None (none, or distributed not installed)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


class ModelPlugin:
    """A ``distributed`` worker plugin: set torch threads, then load the model once.

    Parameters
    ----------
    settings : SurveySettings
    host_threads : dict
        Dask threads of all workers per host (IP), as the scheduler knew them when
        the plugin was registered; a worker on a host not listed counts its own.
    """

    name = "galmorph-survey"

    def __init__(self, settings, host_threads):
        self.settings = settings
        self.host_threads = dict(host_threads)

    def setup(self, worker):
        from distributed.comm import get_address_host

        host = get_address_host(worker.address)
        total = max(self.host_threads.get(host, 0), worker.state.nthreads)
        classifier_for(self.settings, count=False,
                       torch_threads=resolve_threads(self.settings.threads, total))


def __getattr__(name):
    """``GalmorphModelPlugin``: :class:`ModelPlugin` as a ``distributed.WorkerPlugin``, made on
    first use so that this module imports without distributed (and workers unpickle it by
    name)."""
    if name != "GalmorphModelPlugin":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from distributed import WorkerPlugin

    cls = type(name, (ModelPlugin, WorkerPlugin), {"__module__": __name__})
    return globals().setdefault(name, cls)


def prepare_workers(client, settings):
    """Register the :class:`ModelPlugin` of ``settings`` on every worker of ``client``.

    Idempotent for equal settings (the plugin's name is derived from them);
    returns the plugin name.
    """
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) \
        else client.scheduler_info()
    from distributed.comm import get_address_host

    host_threads = {}
    for addr, w in info.get("workers", {}).items():
        host = w.get("host") or get_address_host(addr)
        host_threads[host] = host_threads.get(host, 0) + int(w.get("nthreads", 1))
    digest = hashlib.sha1(repr(settings).encode()).hexdigest()[:12]
    name = f"{ModelPlugin.name}-{digest}"
    plugin = __getattr__("GalmorphModelPlugin")(settings, host_threads)
    client.register_plugin(plugin, name=name)
    return name


def _takes_n_workers(client):
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
