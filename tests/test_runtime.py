import warnings
from pathlib import Path

import pytest
import torch

from galmorph import runtime
from galmorph.labels import check_labels
from galmorph.models import MODEL_NAMES, build_model
from galmorph.runtime import (autocast, channels_last_helps, cpu_supports_bf16,
                              maybe_channels_last, resolve_device, resolve_precision)

# bf16 keeps ~3 significant digits; through a randomly initialised resnet18 the
# 37 fractions moved by at most 0.006, so 0.02 (2 percentage points) is the bound.
BF16_ATOL = 0.02


pytestmark = pytest.mark.usefixtures("one_thread")


def _has_flags():
    with open("/proc/cpuinfo") as fh:
        text = fh.read()
    return "avx512_bf16" in text or "amx_bf16" in text


needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device() == torch.device(expected) == resolve_device("AUTO")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda_says_so():
    with pytest.raises(ValueError, match="'cuda:0' requested but CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="no /proc/cpuinfo (not Linux)")
def test_cpu_bf16_detection_follows_the_cpu_flags():
    # The autocast probe only confirms what the flags say.
    assert cpu_supports_bf16() == _has_flags()


def test_auto_precision_on_cpu():
    assert resolve_precision("cpu") == ("bf16" if cpu_supports_bf16() else "fp32")
    assert resolve_precision(torch.device("cpu"), "float32") == "fp32"
    assert resolve_precision("cpu", "FP32") == "fp32"


def test_half_precision_falls_back_to_fp32_with_a_warning():
    with pytest.warns(UserWarning, match="fp16 is not supported natively on cpu; using fp32"):
        assert resolve_precision("cpu", "fp16") == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("cpu", "fp8")


def test_cpu_without_bf16_flags_runs_fp32(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"sse2", "avx2"})
    cpu_supports_bf16.cache_clear()
    try:
        assert not cpu_supports_bf16()
        assert resolve_precision("cpu") == "fp32"
        with pytest.warns(UserWarning, match="bf16 is not supported natively on cpu"):
            assert resolve_precision("cpu", "bf16") == "fp32"
    finally:
        monkeypatch.undo()
        cpu_supports_bf16.cache_clear()


def test_torch_capped_to_avx2_kernels_runs_fp32(monkeypatch):
    """bf16 flags but ATEN_CPU_CAPABILITY=avx2: torch would emulate bf16, slower than fp32."""
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    cpu_supports_bf16.cache_clear()
    try:
        assert not cpu_supports_bf16()
        assert resolve_precision("cpu") == "fp32"
    finally:
        monkeypatch.undo()
        cpu_supports_bf16.cache_clear()


def test_fp32_autocast_is_a_no_op():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with autocast("cpu", "fp32"):
            y = torch.ones(4, 4) @ torch.ones(4, 4)
    assert y.dtype == torch.float32


@needs_bf16
def test_bf16_autocast_really_computes_in_bf16():
    with autocast(torch.device("cpu"), "bf16"):
        y = torch.ones(4, 4) @ torch.ones(4, 4)
    assert y.dtype == torch.bfloat16
    with autocast("cpu", "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


@needs_bf16
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bf16_models_agree_with_fp32(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.rand(2, 3, 80, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        with autocast("cpu", "bf16"):
            low = model(x)
    assert low.dtype == torch.float32  # models hand back float32 fractions
    diff = (low - ref).abs().max().item()
    assert 0 < diff < BF16_ATOL  # > 0: bf16 really ran
    if name == "resnet18-tailored":
        check = check_labels(low.double().numpy(), atol=1e-5)
        assert check.ok, check.summary()


def test_channels_last_rule_and_conversion():
    assert channels_last_helps("cpu", "fp32") and channels_last_helps("cpu", "bf16")
    assert channels_last_helps("cuda", "bf16") and not channels_last_helps("cuda", "fp32")
    assert not channels_last_helps("mps", "fp32")
    model = build_model("cnn", channels=(8, 16, 32)).eval()
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        ref = model(x)
        model, x2 = maybe_channels_last(model, x, device="cpu", precision="fp32")
        assert x2.is_contiguous(memory_format=torch.channels_last)
        assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x2), ref, atol=1e-5, rtol=1e-4)
    same, x3 = maybe_channels_last(model, x, device="cuda", precision="fp32")
    assert x3 is x and same is model


def test_cuda_on_a_cpu_machine_is_one_clear_line_on_the_command_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    examples = Path(__file__).resolve().parents[1] / "galmorph" / "data" / "examples"
    proc = subprocess.run([sys.executable, "-m", "galmorph", "predict", str(examples),
                           "--out", str(tmp_path / "p.csv"), "--device", "cuda",
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CUDA is not available" in lines[0], proc.stderr
    assert "--device cpu" in lines[0]


def test_dir_lists_the_lazy_public_api():
    import galmorph

    assert {"MorphologyClassifier", "merger_fraction", "redshift_trends"} <= set(dir(galmorph))
