"""Images/s per Dask worker of survey classification (galmorph.workflows.survey).

Classifies ``--images`` real JPEG paths (the shipped example galaxies, repeated)
with the shipped model on a ``distributed.LocalCluster`` of 1, then 2 worker
processes of one thread each, end to end: reading and decoding the JPEGs,
cropping, the network, and writing one Parquet file per partition. The model
load (the worker plugin, once per worker) is timed apart, and each cluster
classifies the catalogue ``--repeats`` times (best and median printed: on a
shared machine single runs are noisy). A single-process ``MorphologyClassifier``
with 1 and with all torch threads is the baseline. Stops adding worker counts
once ``--budget`` seconds are spent.

    python benchmarks/survey_throughput.py --images 768 --workers 1,2
"""
import argparse
import os
import platform
import tempfile
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=768,
                   help="images to classify per run (default: 768)")
    p.add_argument("--partition-rows", type=int, default=96,
                   help="rows per Dask partition (default: 96)")
    p.add_argument("--workers", default="1,2",
                   help="comma-separated worker counts to run (default: 1,2)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs per cluster; best and median are printed (default: 3)")
    p.add_argument("--budget", type=float, default=100.0,
                   help="seconds after which no further run starts (default: 110)")
    return p.parse_args()


def catalog(n):
    import pandas as pd

    from galmorph.data.examples import example_galaxies

    files = list(example_galaxies()["file"])
    return pd.DataFrame({"objid": np.arange(n), "file": [files[i % len(files)] for i in range(n)]})


def single_process(df, threads):
    """Images/s of the single-process classifier with ``threads`` torch threads."""
    import torch
    from astropy.table import Table

    from galmorph.astro.classifier import MorphologyClassifier

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        clf = MorphologyClassifier(device="cpu", progress=False).load()
        table = Table({"file": np.array(df["file"], dtype=object)})
        clf.predict(table[:32])  # warm-up
        t0 = time.perf_counter()
        clf.predict(table)
        return len(df) / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)


def on_cluster(df, n_workers, partition_rows, repeats):
    """(images/s of each run, model-load seconds, torch threads per worker) on a
    LocalCluster."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from galmorph.workflows.survey import classify_survey
    from galmorph.workflows.survey._cluster import worker_stats
    from galmorph.workflows.survey.write import write_survey

    ddf = dd.from_pandas(df, chunksize=partition_rows)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t0 = time.perf_counter()
        result = classify_survey(ddf, client=client)  # registers the plugin: loads the model
        load = time.perf_counter() - t0
        rates = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                report = write_survey(result, out, client=client)
                rates.append(len(df) / (time.perf_counter() - t0))
            assert report.ok and report.n_rows == len(df), report.lines()
        threads = sorted({s["torch_threads"] for s in client.run(worker_stats).values()})
    return rates, load, threads


def main():
    args = parse_args()
    counts = [int(v) for v in args.workers.split(",") if v.strip()]
    df = catalog(args.images)
    start = time.perf_counter()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.images} JPEGs (424x424), {args.partition_rows} rows per partition")
    for threads in sorted({1, os.cpu_count() or 1}):
        print(f"single process, {threads} torch thread(s): "
              f"{single_process(df, threads):8.1f} images/s")
    for n in counts:
        if time.perf_counter() - start > args.budget:
            print(f"{n} workers: skipped (--budget {args.budget:g} s spent)")
            continue
        rates, load, threads = on_cluster(df, n, args.partition_rows, args.repeats)
        best, median = max(rates), float(np.median(rates))
        print(f"{n} worker(s) x 1 thread (torch threads {threads}): best {best:8.1f} images/s "
              f"in all, {best / n:8.1f} per worker; median {median:8.1f} in all, "
              f"{median / n:8.1f} per worker (model load {load:.1f} s, not counted)")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
