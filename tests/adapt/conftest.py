"""Real galaxies with labels of our own, and a small network to finetune (fast on a CPU);
real GZ2 galaxies, their copies turned by 90 degrees and mirrored, and a blank frame,
embedded once with the shipped model (int8, as a CPU user runs it)."""
import numpy as np
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


#: Real galaxies in the embedded set (each with its turned, mirrored copy).
N_REAL = 10


@pytest.fixture(scope="session")
def twin_images(gz2_1k, tmp_path_factory):
    """``(originals, copies, blank)``: paths of N_REAL real galaxies, of their copies
    rotated by 90 degrees and flipped left-right (PNG: lossless), and of a black frame."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("twins")
    originals = sorted((gz2_1k / "images").glob("*.jpg"))[:N_REAL]
    copies = []
    for path in originals:
        image = np.asarray(Image.open(path).convert("RGB"))
        copy = folder / f"{path.stem}_rot.png"
        Image.fromarray(np.ascontiguousarray(np.fliplr(np.rot90(image)))).save(copy)
        copies.append(copy)
    blank = folder / "blank.png"
    Image.fromarray(np.zeros((424, 424, 3), np.uint8)).save(blank)
    return originals, copies, blank


@pytest.fixture(scope="session")
def galaxy_embeddings(twin_images):
    """The embedding table of the originals, their copies and the blank frame, in order."""
    from galmorph import MorphologyClassifier

    originals, copies, blank = twin_images
    clf = MorphologyClassifier(device="cpu", precision="int8", progress=False)
    return clf.embed([str(p) for p in originals + copies + [blank]])
