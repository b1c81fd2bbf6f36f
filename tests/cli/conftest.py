"""Fixtures shared by the tests of the command line."""
import pytest
import torch

from galmorph.models import build_model, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny untrained CNN: these tests check the plumbing, not the predictions."""
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", model,
                           preprocessing={"crop": 224, "size": 32})
