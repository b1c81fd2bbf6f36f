"""Write a classified survey as one Parquet file per partition, resumably.

:func:`write_survey` computes each partition of a lazy result of
:func:`~galmorph.workflows.survey.classify_survey` on the cluster and writes it
as ``OUT_DIR/part-00007.parquet``, atomically (a temporary file beside it,
renamed when whole), so a file that exists is complete. A rerun into the same
folder skips the partitions already there. A partition that fails (an
exception, a worker killed under it) is retried once; if it fails again it is
reported with its error in the returned :class:`SurveyReport` and in
``OUT_DIR/_galmorph_survey_report.json``, and a later rerun tries it again. No
partition is ever dropped silently.

The workers write the files, so ``OUT_DIR`` must be a folder they all reach (a
shared file system on a multi-machine cluster; any folder on a LocalCluster).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from galmorph import __version__
from galmorph._util._io import describe_error
from galmorph.errors import ParameterError

__all__ = ["write_survey", "SurveyReport", "partition_path", "MANIFEST", "REPORT"]

#: What the folder holds (partition count and columns), checked by a rerun.
MANIFEST = "_galmorph_survey.json"
#: The last run's outcome: partitions written, skipped and failed (with errors).
REPORT = "_galmorph_survey_report.json"


def partition_path(out_dir, i):
    """``OUT_DIR/part-00007.parquet``: the file of partition ``i``.

    Parameters
    ----------
    out_dir : path-like
        The output folder of :func:`write_survey`.
    i : int
        Partition number (from 0), written with five digits.

    Returns
    -------
    pathlib.Path
        The Parquet file; it need not exist.
    """
    return Path(out_dir) / f"part-{i:05d}.parquet"


@dataclass
class SurveyReport:
    """The outcome of :func:`write_survey`.

    Attributes
    ----------
    out_dir : pathlib.Path
    n_partitions : int
    written : list of int
        Partitions written by this run.
    skipped : list of int
        Partitions already done by an earlier run.
    retried : dict
        Partition -> the error of its first attempt, for those retried.
    failed : dict
        Partition -> the error of its last attempt: not written, rerun to try again.
    n_rows, n_failed_rows : int
        Rows in the partitions written by this run, and those of them with
        ``predict_ok`` False.
    n_mergers, n_ood : int
        Rows of those partitions flagged ``is_merger`` and ``is_ood``; a missing
        flag (``<NA>``, a failed row) counts as neither.
    first_row_error : str
        The first ``predict_error`` of those rows ("" if none).
    """

    out_dir: Path
    n_partitions: int
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    retried: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    n_rows: int = 0
    n_failed_rows: int = 0
    n_mergers: int = 0
    n_ood: int = 0
    first_row_error: str = ""

    @property
    def ok(self):
        """True when every partition is in ``out_dir``."""
        return not self.failed and len(self.written) + len(self.skipped) == self.n_partitions

    def lines(self):
        """A readable summary, one line each."""
        out = [f"{len(self.written)} partitions written ({self.n_rows} rows, "
               f"{self.n_failed_rows} rows not classified), {len(self.skipped)} already done, "
               f"{len(self.failed)} failed, of {self.n_partitions} in {self.out_dir}"]
        n_ok = self.n_rows - self.n_failed_rows
        if n_ok:
            out.append(f"  of the {n_ok} rows classified: {self.n_mergers} flagged is_merger, "
                       f"{self.n_ood} is_ood (out of distribution)")
        if self.first_row_error:
            out.append(f"  first row not classified: {self.first_row_error}")
        out += [f"  partition {i} retried after: {e}" for i, e in sorted(self.retried.items())
                if i not in self.failed]
        out += [f"  partition {i} FAILED (twice; rerun to try again): {e}"
                for i, e in sorted(self.failed.items())]
        return out

    def as_dict(self):
        return {"out_dir": str(self.out_dir), "n_partitions": self.n_partitions,
                "written": self.written, "skipped": self.skipped,
                "retried": {str(k): v for k, v in self.retried.items()},
                "failed": {str(k): v for k, v in self.failed.items()},
                "n_rows": self.n_rows, "n_failed_rows": self.n_failed_rows,
                "n_mergers": self.n_mergers, "n_ood": self.n_ood,
                "first_row_error": self.first_row_error, "galmorph_version": __version__}


def write_survey(result, out_dir, *, client=None, retries=1, source=None, flag=None,
                 settings=None):
    """Compute and write every partition of ``result`` not yet in ``out_dir``.

    Parameters
    ----------
    result : dask.dataframe.DataFrame or lsdb.Catalog
        Typically :func:`~galmorph.workflows.survey.classify_survey`'s output.
    out_dir : path-like
        Folder of the ``part-NNNNN.parquet`` files (made if missing).
    client : distributed.Client, optional
        Cluster to run on (default: the current client; without one, Dask's
        local scheduler, one partition at a time).
    retries : int
        Further attempts at a partition that failed (default 1).
    source : str, optional
        What was classified (the catalogue file), recorded in the manifest; a
        rerun with another source into the same folder is refused.
    flag : str, optional
        The command-line flag that named ``out_dir`` (``"--out"``), for messages.
    settings : dict, optional
        Settings the rows depend on beyond their columns (such as ``merger_rule``
        and ``merger_threshold``, which decide ``is_merger``), as plain JSON
        values, recorded in the manifest: a rerun with other settings into the
        same folder is refused, so that no folder mixes two rules.

    Returns
    -------
    SurveyReport
    """
    from galmorph.workflows.survey._cluster import current_client

    out_dir = Path(out_dir)
    parts = result.to_delayed()
    _check_manifest(out_dir, len(parts), list(map(str, _columns(result))), source, flag,
                    settings)
    for stale in out_dir.glob(".part-*.parquet.*.tmp"):  # left by a worker killed mid-write
        stale.unlink(missing_ok=True)
    report = SurveyReport(out_dir, len(parts))
    todo = []
    for i in range(len(parts)):
        (report.skipped if partition_path(out_dir, i).exists() else todo).append(i)
    client = client if client is not None else current_client()
    if todo:
        run = _run_distributed if client is not None else _run_local
        run(client, parts, todo, out_dir, retries, report)
    report.written.sort()
    from galmorph._util._atomic import write_text_atomic

    write_text_atomic(out_dir / REPORT, json.dumps(report.as_dict(), indent=2) + "\n")
    return report


def _columns(result):
    if hasattr(result, "to_dask_dataframe"):  # an lsdb Catalog
        result = result.to_dask_dataframe()
    return result._meta.columns


def _check_manifest(out_dir, n, columns, source, flag, settings=None):
    from galmorph._util._atomic import write_text_atomic

    label = f"{flag} {out_dir}" if flag else str(out_dir)
    path = out_dir / MANIFEST
    want = {"n_partitions": n, "columns": columns, "source": source,
            "settings": None if settings is None else dict(settings)}
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ParameterError(f"{label}: cannot read {path.name} ({describe_error(err)}); "
                                 f"give an empty folder") from None
        diff = [k for k in want if have.get(k) != want[k]]
        if diff:
            raise ParameterError(f"{label}: holds another survey run ({', '.join(diff)} "
                                 f"differ: {have.get('n_partitions')} partitions of "
                                 f"{have.get('source')}); give an empty folder, or rerun "
                                 f"with the same catalogue and partitions to resume it")
        return
    if out_dir.exists() and any(out_dir.glob("part-*.parquet")):
        raise ParameterError(f"{label}: holds part-*.parquet files but no {MANIFEST}; give "
                             f"an empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({**want, "galmorph_version": __version__},
                                       indent=2) + "\n")


def _write_partition(df, path):
    """Write one computed partition atomically; a small summary goes back to the client."""
    import pandas as pd

    from galmorph._util._atomic import atomic_path

    frame = pd.DataFrame(df)  # an LSDB NestedFrame as a plain one
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True)
    bad = ~frame["predict_ok"].to_numpy(dtype=bool)
    errors = frame["predict_error"].to_numpy()[bad]
    return {"rows": len(frame), "failed_rows": int(bad.sum()),
            "mergers": _count(frame, "is_merger"), "ood": _count(frame, "is_ood"),
            "first_error": str(errors[0]) if len(errors) else ""}


def _count(frame, name):
    """Rows flagged True in the (nullable) flag column ``name``: <NA> counts as not flagged."""
    if name not in frame.columns:
        return 0
    return int(frame[name].astype("boolean").fillna(False).sum())


def _record(report, i, summary):
    report.written.append(i)
    report.n_rows += summary["rows"]
    report.n_failed_rows += summary["failed_rows"]
    report.n_mergers += summary["mergers"]
    report.n_ood += summary["ood"]
    if summary["first_error"] and not report.first_row_error:
        report.first_row_error = summary["first_error"]


def _why(err):
    return f"{type(err).__name__}: {describe_error(err)}"


def _tasks(parts, todo, out_dir):
    import uuid

    import dask

    run = uuid.uuid4().hex[:8]  # keys unique per run: never an old run's erred result
    return {i: dask.delayed(_write_partition)(
        parts[i], str(partition_path(out_dir, i)), dask_key_name=f"galmorph-write-{i}-{run}")
        for i in todo}


def _erred_keys(keys, dask_scheduler=None):
    """(On the scheduler) those of ``keys`` it still holds in the erred state."""
    tasks = dask_scheduler.tasks
    return [k for k in keys if k in tasks and tasks[k].state == "erred"]


def _wait_released(client, keys, timeout=60.0):
    """Wait until the scheduler has let go of the erred ``keys`` (a release is asynchronous,
    and a graph sent meanwhile would be handed the old error instead of rerunning)."""
    import time

    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(_erred_keys, list(keys)) and time.monotonic() < deadline:
        time.sleep(0.1)


def _run_distributed(client, parts, todo, out_dir, retries, report):
    """All partitions at once; the failed ones are released and run again (``retries`` times)."""
    from distributed import as_completed

    for attempt in range(1 + retries):
        tasks = _tasks(parts, todo, out_dir)
        futures = dict(zip(client.compute(list(tasks.values())), tasks))
        failed = {}
        for fut in as_completed(list(futures), loop=client.loop):
            i = futures[fut]
            if fut.status == "finished":
                _record(report, i, fut.result())
                continue
            try:
                failed[i] = _why(fut.exception())
            except Exception as exc:  # a cancelled future has no exception to give
                failed[i] = _why(exc)
        keys = {k for i in failed for k in dict(tasks[i].dask)}
        for fut in futures:
            fut.release()
        futures = fut = None  # drop the last references, so the scheduler can forget them
        if not failed:
            return
        if attempt == retries:
            report.failed.update(failed)
            return
        for i, err in failed.items():
            report.retried.setdefault(i, err)
        _wait_released(client, keys)
        todo = sorted(failed)


def _run_local(client, parts, todo, out_dir, retries, report):
    import dask

    for i, task in _tasks(parts, todo, out_dir).items():
        for attempt in range(1 + retries):
            try:
                (summary,) = dask.compute(task)
            except Exception as exc:  # any failure of the partition: retry, then report
                err = _why(exc)
                if attempt < retries:
                    report.retried.setdefault(i, err)
                    continue
                report.failed[i] = err
            else:
                _record(report, i, summary)
            break
