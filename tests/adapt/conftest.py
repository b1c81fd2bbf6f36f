"""Real galaxies with labels of our own, and a small network to finetune (fast on a CPU)."""
import pytest
from finetune_labels import ring_table


@pytest.fixture(scope="session")
def ring_labels(kaggle_5k, tmp_path_factory):
    """The table of :func:`ring_table` in a session folder."""
    return ring_table(kaggle_5k, tmp_path_factory.mktemp("rings"))


@pytest.fixture(scope="session")
def small_net(tmp_path_factory):
    """A checkpoint of a narrow resnet18-cpu (width 8): the network to finetune, quickly."""
    import torch

    from galmorph.models import build_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("net") / "small.pt"
    save_checkpoint(path, build_model("resnet18-cpu", width=8),
                    preprocessing={"crop": 224, "size": 48})
    return path
