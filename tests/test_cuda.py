"""CUDA paths (``pytest -m cuda``): skipped where no CUDA GPU is present, as in CI.

``benchmarks/gpu_check.sh`` runs them on a machine lent with a GPU.
"""
import numpy as np
import pytest
import torch

from galmorph.inference import predict_arrays
from galmorph.models import build_model

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_predict_on_cuda_matches_the_cpu(precision):
    torch.manual_seed(0)
    model = build_model("resnet18-cpu").eval()
    images = np.random.default_rng(0).integers(0, 255, (16, 3, 80, 80), dtype=np.uint8)
    cpu = predict_arrays(model, images, device="cpu", precision="fp32")
    gpu = predict_arrays(model, images, device="cuda", precision=precision)
    assert gpu.shape == (16, 37) and np.isfinite(gpu).all()
    assert np.abs(gpu - cpu).max() < (1e-4 if precision == "fp32" else 0.05)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_train_amp_on_cuda_resumes(tmp_path, precision):
    from galmorph.synth import make_synthetic
    from galmorph.training.config import TrainConfig, read_metrics
    from galmorph.training import train

    data = make_synthetic(tmp_path / "synth", n=64, seed=0, workers=1, progress=False)
    cfg = dict(data=data, out=tmp_path / "run", model="resnet18-cpu", epochs=1,
               batches_per_epoch=3, batch_size=16, device="cuda", precision=precision,
               progress=False, workers=1)
    run = train(TrainConfig(**cfg))
    train(TrainConfig.from_run(run, epochs=2))
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2] and all(np.isfinite(r["val_rmse"]) for r in rows)
    assert rows[0]["images_per_s"] > 0
