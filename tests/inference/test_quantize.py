"""Tests of galmorph.inference.quantize: int8 inference (``--precision int8``).

The int8 tests run the shipped model on the real example galaxies; they skip
where this CPU cannot run PyTorch's x86 int8 kernels. The realdata test scores
the shipped model's validation split (its card) in fp32 and int8.
"""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from astropy.table import Table

import galmorph.runtime
from galmorph import schema
from galmorph.data.examples import EXAMPLES_DIR, example_galaxies
from galmorph.data.images import crop_and_resize
from galmorph.errors import DataError, ParameterError
from galmorph.inference.engine import predict_arrays
from galmorph.inference.quantize import QuantizedModel, clear_cache, quantize_model
from galmorph.labels import check_labels
from galmorph.models import MODEL_NAMES, build_model
from galmorph.models.checkpoint import load_checkpoint
from galmorph.paths import shipped_model_path
from galmorph.runtime import cpu_supports_int8, resolve_precision

needs_int8 = pytest.mark.skipif(not cpu_supports_int8(),
                                reason="this CPU cannot run PyTorch's x86 int8 kernels")


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(shipped_model_path())


@pytest.fixture(scope="module")
def galaxies():
    """The 24 example galaxies, cut as the shipped model expects: uint8 (24, 3, 80, 80)."""
    files = example_galaxies()["file"]
    return np.stack([crop_and_resize(f, crop=224, size=80) for f in files])


@pytest.fixture(scope="module")
def fp32(shipped, galaxies):
    return predict_arrays(shipped, galaxies, device="cpu", precision="fp32")


def _int8_env(tmp_path, **extra):
    # A clean user: no registered default model, caches in tmp_path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALMORPH_")}
    env.update({"HOME": str(tmp_path), "GALMORPH_CACHE_DIR": str(tmp_path / "cache"), **extra})
    return env


@needs_int8
def test_int8_is_close_to_fp32_on_real_galaxies_and_keeps_the_tree(shipped, galaxies, fp32):
    out = predict_arrays(shipped, galaxies, device="cpu", precision="int8")
    assert out.shape == (24, schema.N_ANSWERS) and out.dtype == np.float32
    diff = np.abs(out - fp32)
    assert diff.max() < 0.06 and np.sqrt((diff ** 2).mean()) < 0.01, diff.max()
    assert not np.array_equal(out, fp32)                     # it really ran in int8
    assert check_labels(out.astype(np.float64), atol=1e-4).ok
    # The decision-tree answer the two precisions give agrees for nearly every galaxy.
    q1 = schema.QUESTION_SLICES[1]
    assert (out[:, q1].argmax(1) == fp32[:, q1].argmax(1)).mean() >= 0.9


@needs_int8
def test_the_quantized_model_is_cached_until_the_weights_change(galaxies):
    clear_cache()
    model = load_checkpoint(shipped_model_path()).model
    first = quantize_model(model)
    assert isinstance(first, QuantizedModel) and quantize_model(model) is first
    assert first.calibration_["n_images"] == 24 and first.calibration_["qconfig"] == "x86"
    assert quantize_model(first) is first
    with torch.no_grad():
        head = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        head.bias.add_(0.5)                                  # an in-place update, as training does
    second = quantize_model(model)
    assert second is not first
    a = predict_arrays(first, galaxies[:4], device="cpu")    # a QuantizedModel always runs int8
    b = predict_arrays(second, galaxies[:4], device="cpu")
    assert a.shape == b.shape == (4, 37) and not np.allclose(a, b)


@needs_int8
def test_calibration_on_images_the_user_passes(shipped, galaxies, fp32, tmp_path):
    picked = list(example_galaxies()["file"][:6])
    by_files = quantize_model(shipped, calibration=picked)
    assert by_files.calibration_["n_images"] == 6
    by_array = quantize_model(shipped, calibration=galaxies[:6])
    out_files = predict_arrays(by_files, galaxies, device="cpu")
    out_array = predict_arrays(by_array, galaxies, device="cpu")
    np.testing.assert_allclose(out_files, out_array, atol=1e-6)  # the same pixels either way
    assert np.abs(out_files - fp32).max() < 0.1
    with pytest.raises(DataError, match="no images found"):
        quantize_model(shipped, calibration=str(tmp_path))


@needs_int8
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_architecture_quantizes(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 3, 80, 80), dtype=np.uint8)  # the cnn needs 80
    q = quantize_model(model, calibration=images)
    out = predict_arrays(q, images, device="cpu")
    ref = predict_arrays(model, images, device="cpu", precision="fp32")
    assert out.shape == (8, 37) and np.isfinite(out).all()
    assert np.abs(out - ref).max() < 0.1
    if model.config.output == "tree":
        assert check_labels(out.astype(np.float64), atol=1e-4).ok


@needs_int8
def test_an_ensemble_quantizes_member_by_member():
    from galmorph.models.ensemble import ensemble_of

    torch.manual_seed(0)
    members = [build_model("resnet18-cpu", width=8, head_hidden=16).eval() for _ in range(2)]
    ensemble = ensemble_of(members)
    images = np.random.default_rng(1).integers(0, 256, size=(8, 3, 80, 80), dtype=np.uint8)
    q = quantize_model(ensemble, calibration=images)
    assert q.calibration_["members"] == 2
    out = predict_arrays(q, images, device="cpu")
    ref = predict_arrays(ensemble, images, device="cpu", precision="fp32")
    singles = [predict_arrays(quantize_model(m, calibration=images), images, device="cpu")
               for m in members]
    np.testing.assert_allclose(out, np.mean(singles, axis=0), atol=1e-6)
    assert np.abs(out - ref).max() < 0.05
    assert check_labels(out.astype(np.float64), atol=1e-4).ok     # each head ran in float32


class _Branchy(torch.nn.Module):
    """A model whose forward_features branches on the data: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 37, 3)

    def forward_features(self, x):
        y = self.conv(x).mean((2, 3))                        # (B, 37)
        return y if float(y.sum()) > 0 else -y

    def forward_head(self, features):
        return torch.sigmoid(features)


@needs_int8
def test_a_model_fx_cannot_trace_is_one_clear_error(galaxies):
    with pytest.raises(ParameterError, match="cannot quantize model _Branchy.*--precision fp32"):
        predict_arrays(_Branchy(), galaxies[:2], device="cpu", precision="int8")


def test_unsupported_cpu_falls_back_to_fp32_with_a_warning(monkeypatch, shipped, galaxies, fp32):
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_int8", lambda: False)
    with pytest.warns(UserWarning, match="int8 is not supported on this CPU.*using fp32"):
        out = predict_arrays(shipped, galaxies, device="cpu", precision="int8")
    np.testing.assert_array_equal(out, fp32)
    with pytest.raises(ParameterError, match="--precision fp32"):
        quantize_model(shipped)


def test_int8_off_the_cpu_and_in_training_is_refused_or_falls_back(shipped):
    with pytest.warns(UserWarning, match="int8 runs on the CPU only.*using fp32"):
        assert resolve_precision("cuda", "int8", inference=True) == "fp32"
    with pytest.raises(ParameterError, match="int8 models run on the CPU only.*--device cpu"):
        quantize_model(shipped, device="cuda")
    with pytest.raises(ParameterError, match="prediction only.*--precision auto"):
        resolve_precision("cpu", "int8")                     # what training asks
    assert "int8" in galmorph.runtime.PRECISIONS


@needs_int8
def test_classifier_with_int8(fp32):
    from galmorph import MorphologyClassifier

    table = MorphologyClassifier(precision="int8", device="cpu", progress=False).predict(
        example_galaxies())
    assert table["predict_ok"].all()
    got = np.stack([np.asarray(table[c]) for c in schema.KAGGLE_COLUMNS], axis=1)  # (24, 37)
    assert got.shape == fp32.shape and np.abs(got - fp32).max() < 0.06
    assert not np.array_equal(got, fp32)
    assert table.meta["precision"] == "int8" and table.meta["device"] == "cpu"


@needs_int8
def test_cli_predict_precision_int8(tmp_path, shipped, galaxies):
    out = tmp_path / "int8.ecsv"
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(EXAMPLES_DIR),
                           "--precision", "int8", "--device", "cpu", "--out", str(out),
                           "--no-progress", "--workers", "0"],
                          capture_output=True, text=True, timeout=300, env=_int8_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    table = Table.read(out)
    assert len(table) == 24
    got = np.stack([np.asarray(table[c]) for c in schema.KAGGLE_COLUMNS], axis=1)
    # The same int8 numbers as in this process: calibration and kernels are deterministic.
    names = [os.path.basename(f) for f in example_galaxies()["file"]]
    order = [names.index(os.path.basename(str(p))) for p in table["file"]]
    expected = predict_arrays(shipped, galaxies[order], device="cpu", precision="int8")
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_cli_int8_without_int8_kernels_warns_and_runs_fp32(tmp_path, shipped, galaxies, fp32):
    out = tmp_path / "fallback.ecsv"
    # torch's lowest dispatch level: no AVX2, so cpu_supports_int8() is False in the child.
    env = _int8_env(tmp_path, ATEN_CPU_CAPABILITY="default")
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(EXAMPLES_DIR),
                           "--precision", "int8", "--device", "cpu", "--out", str(out),
                           "--no-progress", "--workers", "0"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "int8 is not supported on this CPU" in proc.stderr
    table = Table.read(out)
    got = np.stack([np.asarray(table[c]) for c in schema.KAGGLE_COLUMNS], axis=1)
    names = [os.path.basename(f) for f in example_galaxies()["file"]]
    order = [names.index(os.path.basename(str(p))) for p in table["file"]]
    np.testing.assert_allclose(got, fp32[order], atol=2e-5)


@pytest.mark.realdata
@needs_int8
def test_int8_changes_the_validation_rmse_by_at_most_0_002(kaggle_5k, partial_3k):
    from galmorph.data.cache import prepare
    from galmorph.inference.evaluation import evaluate
    from galmorph.models.card import read_card

    card = read_card()
    ids = card["split"]["val_ids"]
    ckpt = load_checkpoint(shipped_model_path())
    data = [kaggle_5k, partial_3k]
    ref = evaluate(ckpt, data, split=ids, precision="fp32")
    assert abs(ref["rmse"] - card["evaluation"]["overall"]["rmse"]) <= 0.002
    int8 = evaluate(ckpt, data, split=ids, precision="int8")
    assert int8["n_galaxies"] == ref["n_galaxies"] == 800
    assert abs(int8["rmse"] - ref["rmse"]) <= 0.002, (int8["rmse"], ref["rmse"])
    for q, value in ref["per_question"].items():
        assert abs(int8["per_question"][q] - value) <= 0.004, q
    # Calibrated on 256 training galaxies (none of the split) instead of the examples.
    train = prepare(kaggle_5k, progress=False)
    rows = np.flatnonzero(~np.isin(train.ids, ids))
    q = quantize_model(ckpt, calibration=train.images[rows[:1024]], limit=256)
    assert q.calibration_["n_images"] == 256
    other = evaluate(dataclasses.replace(ckpt, model=q), data, split=ids)
    assert abs(other["rmse"] - ref["rmse"]) <= 0.002, (other["rmse"], ref["rmse"])


def _predict_cli(tmp_path, out, *flags):
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(EXAMPLES_DIR),
                           "--device", "cpu", "--out", str(out), "--no-progress",
                           "--workers", "0", *flags],
                          capture_output=True, text=True, timeout=300, env=_int8_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    table = Table.read(out)
    return table, np.stack([np.asarray(table[c]) for c in schema.KAGGLE_COLUMNS], axis=1)


@needs_int8
@pytest.mark.slow  # three subprocesses
def test_a_fresh_process_loads_the_int8_model_from_the_disk_cache(tmp_path):
    """The first int8 run quantizes and keeps the result on disk; a later process loads it,
    and then ``--precision auto`` runs int8 where the CPU has no native bf16."""
    from galmorph.runtime import cpu_supports_bf16

    kept = tmp_path / "cache" / "int8"
    small, _ = _predict_cli(tmp_path, tmp_path / "auto0.ecsv")       # 24 images, nothing kept
    assert small.meta["precision"] == ("bf16" if cpu_supports_bf16() else "fp32")
    assert small.meta["device"] == "cpu" and not list(kept.glob("*.pt"))
    first, a = _predict_cli(tmp_path, tmp_path / "int8.ecsv", "--precision", "int8")
    assert first.meta["precision"] == "int8" and len(list(kept.glob("*.pt"))) == 1
    again, b = _predict_cli(tmp_path, tmp_path / "auto1.ecsv")
    if cpu_supports_bf16():
        assert again.meta["precision"] == "bf16"
    else:
        assert again.meta["precision"] == "int8"
        np.testing.assert_array_equal(a, b)    # the same int8 model, loaded from disk
    # The shipped model's trust calibration travels with its int8 form (galmorph.trust).
    for table in (first, again):
        assert table.meta["merger_rule"] == "prob"
        assert not np.ma.getmaskarray(table["merger_prob"]).any()
        assert table.meta["trust"]["ood"]["threshold"] > 0
    # An entry whose trust file is gone is a miss (the next process quantizes again).
    from galmorph.inference import _int8_disk

    entry = next(kept.glob("*.pt"))
    assert _int8_disk.load(entry)[1]["trust"]["ood"] is not None
    entry.with_suffix(".trust").unlink()
    assert _int8_disk.load(entry) is None


@needs_int8
def test_a_damaged_disk_cache_is_rebuilt(monkeypatch, tmp_path, galaxies):
    from galmorph.inference import _int8_disk

    monkeypatch.setenv("GALMORPH_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=80).eval()
    clear_cache()
    first = predict_arrays(quantize_model(model), galaxies[:4], device="cpu")
    (kept,) = (tmp_path / "int8").glob("*.pt")
    kept.write_bytes(b"not a TorchScript archive")
    clear_cache()
    again = predict_arrays(quantize_model(model), galaxies[:4], device="cpu")
    np.testing.assert_array_equal(first, again)
    assert _int8_disk.load(kept) is not None                        # written anew
    # Another torch, or another recipe, names another file.
    key = "crop 224 size 80 w"
    here = _int8_disk.disk_path(key)
    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert _int8_disk.disk_path(key) != here


def test_auto_picks_int8_where_it_pays(monkeypatch):
    from galmorph.inference.loading import INT8_AUTO_MIN_IMAGES, choose_precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_int8", lambda: True)
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_bf16", lambda: False)
    assert choose_precision(cpu, "auto", n_images=50) == "fp32"
    assert choose_precision(cpu, "auto", n_images=50, int8_ready=True) == "int8"
    assert choose_precision(cpu, "auto", n_images=INT8_AUTO_MIN_IMAGES) == "int8"
    assert choose_precision(cpu, "fp32", int8_ready=True) == "fp32"   # asked for: kept
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_bf16", lambda: True)
    assert choose_precision(cpu, "auto", int8_ready=True) == "bf16"
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(galmorph.runtime, "cpu_supports_int8", lambda: False)
    assert choose_precision(cpu, "auto", n_images=10 ** 6) == "fp32"


@needs_int8
def test_int8_is_deterministic_whichever_engine_runs_it(shipped, galaxies):
    """oneDNN runs the shipped members; a network with convolutions of fewer than 16
    channels, whose outputs oneDNN's kernels changed from call to call, runs on "x86"."""
    from galmorph.inference._int8_disk import int8_engine

    torch.manual_seed(0)
    tiny = build_model("resnet18-cpu", width=8, head_hidden=16).eval()
    assert int8_engine(tiny) == "x86"
    for model in (tiny, shipped.model):
        q = quantize_model(model, calibration=galaxies)
        assert q.calibration_["backend"] == int8_engine(model)
        a = predict_arrays(q, galaxies, device="cpu")
        b = predict_arrays(q, galaxies, device="cpu")
        np.testing.assert_array_equal(a, b)
