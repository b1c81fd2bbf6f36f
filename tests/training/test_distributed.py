"""Data-parallel training: real ``torchrun --nproc_per_node 2`` (gloo, CPU) against one process.

With fp32, no dropout and augmentation parameters drawn for the whole global
batch on every rank, two processes sharing each batch of 8 must follow the
single-process run up to the summation order of the gradient all-reduce. The
stated tolerances: validation and training RMSE within 1e-5 relative, every
weight within 1e-4 of its tensor's largest magnitude.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from galmorph.data.cache import prepare
from galmorph.synth import make_synthetic
from galmorph.models import build_model
from galmorph.models.checkpoint import load_checkpoint
from galmorph.training.config import TrainConfig, read_metrics
from galmorph.training.distributed import DistContext, init_distributed, shard
from galmorph.training import train

REPO = Path(__file__).resolve().parents[2]


def test_single_process_context_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = init_distributed(torch.device("cpu"))
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (0, 1, False, True)
    assert device == torch.device("cpu")
    t = torch.tensor([2.0])
    assert ctx.all_reduce_sum(t) is t and t.item() == 2.0
    assert ctx.broadcast_object({"a": 1}) == {"a": 1}
    assert ctx.any(True, device) and not ctx.any(False, device)


def test_shard_takes_every_nth_sample():
    positions = np.arange(8)
    parts = [shard(positions, DistContext(rank=r, world_size=3)) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 3, 6], [1, 4, 7], [2, 5]]
    assert sorted(np.concatenate(parts).tolist()) == list(range(8))


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with the gloo backend is not available")
def test_torchrun_two_processes_match_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path / "user-cache"))
    data = make_synthetic(tmp_path / "synth", n=40, seed=5, workers=1, progress=False)
    cache = tmp_path / "cache"
    prepare(data, cache_dir=cache, workers=1, progress=False)
    common = ["--model", "cnn", "--cache", cache, "--epochs", "2", "--batches-per-epoch", "3",
              "--batch-size", "8", "--precision", "fp32", "--model-option", "dropout=0",
              "--augment", "--no-progress"]
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "galmorph", "train", str(data), "--out", str(out), *map(str, common)],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # Rank 0 alone reports and writes: one line per epoch, one metrics row per epoch.
    assert proc.stdout.count("epoch 2/2: train RMSE") == 1
    assert json.loads((out / "config.json").read_text())["world_size"] == 2

    single = train(TrainConfig(data=data, out=tmp_path / "single", cache=cache, model="cnn",
                               epochs=2, batches_per_epoch=3, batch_size=8, precision="fp32",
                               model_options={"dropout": 0}, augment=True, progress=False))
    ddp_rows, one_rows = read_metrics(out), read_metrics(single)
    assert [r["epoch"] for r in ddp_rows] == [1, 2]
    for a, b in zip(ddp_rows, one_rows):
        assert a["val_rmse"] == pytest.approx(b["val_rmse"], rel=1e-5)
        assert a["train_rmse"] == pytest.approx(b["train_rmse"], rel=1e-5)
    wd = load_checkpoint(out / "last.pt").model.state_dict()
    ws = load_checkpoint(single / "last.pt").model.state_dict()
    for key in ws:
        scale = ws[key].abs().max().item()
        assert (wd[key] - ws[key]).abs().max().item() <= 1e-4 * scale, key
    # Training moved the weights far beyond that tolerance, so the comparison can fail.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        w0 = build_model("cnn", dropout=0).state_dict()
    moved = max(((wd[k] - w0[k]).abs().max() / ws[k].abs().max()).item() for k in ws)
    assert moved > 1e-2
