"""What a training run is set up from: its data, its resolved config, its run directory.

The steps that :func:`galmorph.training.loop.setup` takes in this order before the first
batch, each a plain function of the :class:`TrainConfig` and of the model config built
from it once:

1. :func:`check_outputs` -- the run directory and the skip report can be written;
2. :func:`prepare_on_ranks` / :func:`prepare_data` -- one preprocessing cache per data
   folder, combined;
3. :func:`resolve_run` -- every default made explicit (batch size, batches per
   epoch, augmentation, crop and size, caches); :func:`run_record` adds the device and
   precision that ran;
4. :func:`write_run_config` -- check the run directory and write ``config.json``;
5. :func:`split_rows` -- the split of ``split.json``, made or read back.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from galmorph import __version__, schema
from galmorph._util._io import check_writable
from galmorph.errors import DataError
from galmorph.models import AUGMENTED_BY_DEFAULT, model_entry, preprocessing_of
from galmorph.rundir import RunDir
from galmorph.training.batches import load_split, make_split, save_split, split_sizes
from galmorph.training.config import check_run_dir
from galmorph.training.population import untouched_of
from galmorph.training.pseudo import keep_pseudo, split_labelled

__all__ = ["report_path", "check_outputs", "prepare_data", "prepare_on_ranks", "resolve_run",
           "run_record", "write_run_config", "split_rows"]


def report_path(report, k, n):
    """The skip report of data folder ``k`` of ``n`` (``report.csv`` -> ``report-2.csv``)."""
    if report is None or n == 1 or k == 0:
        return report
    path = Path(report)
    return path.with_name(f"{path.stem}-{k + 1}{path.suffix}")


def check_outputs(config):
    """One clear line before the data is prepared if the run directory (or the skip report)
    cannot be written; every rank checks, so none waits for a failed one.

    Raises
    ------
    galmorph._util._io.OutputError
        ``config.out`` or ``config.report`` cannot be written (the flag is named).
    """
    check_writable(config.out, "--resume" if config.resume else "--out", folder=True)
    if config.report is not None:
        check_writable(config.report, "--report")


def prepare_data(config, model_config, progress):
    """The combined :class:`~galmorph.data.cache.PreparedData` of ``config``'s data folders.

    Parameters
    ----------
    config : TrainConfig
    model_config : dataclass
        The model's config (:func:`galmorph.models.model_config`): with its registry
        entry it gives the crop and size where ``config`` leaves them None
        (:func:`galmorph.models.preprocessing_of`).
    progress : bool
        Progress bars while a cache is built.

    Raises
    ------
    ValueError
        Resuming without data, or not one cache folder per data folder.
    galmorph.errors.DataError
        A folder without labels (and every data error of ``prepare``).
    """
    from galmorph.data.cache import combine, prepare

    if config.resume and config.data is None:
        raise ValueError("resuming needs the data folder; use TrainConfig.from_run(run_dir)")
    prep = preprocessing_of(config.model, getattr(model_config, "input_size", None))
    crop, size = config.crop or prep["crop"], config.size or prep["size"]
    folders = config.data_folders()
    several = isinstance(config.cache, (list, tuple))
    caches = config.cache if several else [config.cache] * len(folders)
    if len(caches) != len(folders) or (len(folders) > 1 and not several
                                       and config.cache is not None):
        raise ValueError(f"cache must be one folder per data folder ({len(folders)}), "
                         f"got {config.cache!r}")
    for folder in folders:
        _check_labelled(folder)
    datas = [prepare(folder, cache_dir=cache, progress=progress, crop=crop, size=size,
                     workers=config.workers, on_error=config.on_error, flavour=config.flavour,
                     report=report_path(config.report, k, len(folders)))
             for k, (folder, cache) in enumerate(zip(folders, caches))]
    for folder, d in zip(folders, datas):
        if d.labels is None:
            raise DataError(f"{folder} has no labels (no training_solutions_rev1.csv or GZ2 "
                            f"vote table): training needs labelled galaxies; {_UNLABELLED}")
    return combine(datas, on_error=config.on_error)


def prepare_on_ranks(config, model_config, ctx, progress):
    """:func:`prepare_data` under ``torchrun``: rank 0 builds the caches that are missing
    (and shares its data error), then the other ranks open them."""
    data = ctx.on_main(lambda: prepare_data(config, model_config, progress), share=False)
    if not ctx.is_main:
        data = prepare_data(config, model_config, False)
    return data


_UNLABELLED = "to learn from unlabelled images, run galmorph pseudo-label on them first"


def _check_labelled(folder):
    """A clear error, before any cache is built, for a folder of images without labels."""
    from galmorph.data.catalogs import detect_layout

    path = Path(folder)
    if not path.is_dir():
        return  # prepare() names what is wrong
    try:
        layout = detect_layout(path)
    except DataError:
        layout = "images" if (path / "images").is_dir() else None
    if layout == "images":
        raise DataError(f"{folder} has no labels file (training_solutions_rev1.csv or a GZ2 "
                        f"vote table), only images: training needs labelled galaxies; "
                        f"{_UNLABELLED} (galmorph pseudo-label --out DIR {folder}) and train "
                        f"on DIR")


def resolve_run(config, data, out, world_size=1):
    """``config`` with every default made explicit: the epochs, batch sizes, batches per
    epoch, augmentation, crop and size, the data folders and caches as absolute paths.

    The batch sizes not given are the model's registry entry's.

    The requested device and precision stay as asked (``"auto"`` resolves afresh on
    resume); :func:`run_record` adds what ran. ``epochs`` stays ``None`` where a time
    limit is given without it: the run trains until the limit.
    """
    from galmorph.errors import ParameterError
    from galmorph.training.config import DEFAULT_EPOCHS

    epochs = config.epochs
    if epochs is None and config.time_limit is None:
        if config.resume:
            raise ParameterError(f"the run in {out} trains until a time limit (it was started "
                                 f"with --time-limit and no --epochs): pass --time-limit SECONDS "
                                 f"to train it on, or --epochs N for a total")
        epochs = DEFAULT_EPOCHS

    entry = model_entry(config.model)
    n_train = len(data) - split_sizes(len(data), config.val_fraction)[1]
    batch = min(int(config.batch_size or entry.batch_size), max(1, n_train))
    if batch < world_size:
        raise ValueError(f"batch size {batch} is smaller than the {world_size} processes "
                         f"sharing it")
    folders = [str(Path(f).resolve()) for f in config.data_folders()]
    caches = [p["cache"] for p in data.parts] or [str(data.path)]
    augment = config.augment if config.augment is not None else \
        config.model in AUGMENTED_BY_DEFAULT
    return dataclasses.replace(
        config, epochs=epochs, data=folders[0] if len(folders) == 1 else folders, out=str(out),
        batch_size=batch, val_batch_size=int(config.val_batch_size or entry.val_batch_size),
        batches_per_epoch=int(config.batches_per_epoch or max(1, n_train // batch)),
        augment=bool(augment), crop=data.meta["crop"], size=int(data.meta["size"]),
        cache=caches[0] if len(caches) == 1 else caches)


def run_record(resolved, device, precision):
    """The dict ``config.json`` and the checkpoints' meta store: the resolved config as plain
    data, and the device and precision that ran (``resolved_device``, ``resolved_precision``)."""
    return {**resolved.to_dict(), "resolved_device": str(device),
            "resolved_precision": precision}


def write_run_config(out, resolved, resume, world_size=1):
    """Check that ``out`` may hold the run ``resolved`` and write its ``config.json``.

    Returns
    -------
    str
        ``"new"`` or ``"resume"`` (see :func:`~galmorph.training.config.check_run_dir`).
    """
    run = RunDir(out)
    stored = run.config() if run.config_file.is_file() else None   # read once, here
    mode = check_run_dir(run.path, resolved, resume, stored=stored)
    doc = dict(resolved)
    if mode == "resume":
        doc["created"] = stored.get("created")
        doc["resumed"] = stored.get("resumed", 0) + 1
    else:
        doc["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc.update(galmorph_version=__version__, torch_version=torch.__version__,
               world_size=world_size, schema_version=schema.SCHEMA_VERSION)
    run.write_config(doc)
    return mode


def split_rows(config, data, out, ctx, resume, pseudo):
    """``(train rows, validation rows)`` of ``data``: those of ``out/split.json`` on resume,
    else a new seeded split, stratified by data folder, that rank 0 stores there.

    Pseudo-labelled rows (``pseudo``, bool (N,)) are never validated on; the labelled ones
    split as without them. With ``hold_out_untouched`` the untouched split is in neither.
    """
    path = RunDir(out).split_file
    held = untouched_of(data) if config.hold_out_untouched else None
    if resume and path.is_file():
        train_rows, val_rows = load_split(path, data.ids)
        return keep_pseudo(train_rows, pseudo, config.pseudo_weight, held), val_rows
    groups = data.folder_index
    seed = config.seed if config.split_seed is None else config.split_seed
    train_rows, val_rows = split_labelled(
        lambda rows: make_split(len(rows), config.val_fraction, seed, groups=groups[rows]),
        pseudo, config.pseudo_weight, held)
    folders = [p["source"] for p in data.parts] or None
    ctx.on_main(lambda: save_split(path, data.ids, val_rows, seed, config.val_fraction,
                                   groups=groups, folders=folders))
    return train_rows, val_rows
