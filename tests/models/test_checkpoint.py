import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import galmorph
from galmorph import schema
from galmorph.errors import CheckpointError
from galmorph.models import MODEL_NAMES, build_model
from galmorph.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

PREP = {"crop": 224, "size": 80}


@pytest.fixture(autouse=True)
def _seeded_one_thread(one_thread):
    torch.manual_seed(0)


@pytest.fixture
def cnn_ckpt(tmp_path):
    """A real checkpoint of a small CNN, with its model."""
    model = build_model("cnn", channels=(8, 16, 32), hidden=32).eval()
    path = save_checkpoint(tmp_path / "cnn.pt", model, preprocessing=PREP)
    return path, model


def _images(n=3):
    return torch.rand(n, 3, 80, 80, generator=torch.Generator().manual_seed(1))


def _rewrite(path, **changes):
    """Load the raw payload, change top-level entries, save it back (a forged file)."""
    data = torch.load(path, weights_only=True)
    data.update(changes)
    torch.save(data, path)
    return data


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_gives_the_same_outputs(tmp_path, name):
    model = build_model(name).eval()
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model, preprocessing=PREP,
                           meta={"epoch": np.int64(3), "rmse": np.float32(0.1),
                                 "data": tmp_path, "hist": np.arange(3)})
    ckpt = load_checkpoint(path, expected_model=name)
    assert isinstance(ckpt, Checkpoint) and ckpt.name == name and ckpt.path == path
    assert not ckpt.model.training
    assert ckpt.config == {**ckpt.config, "name": name} and ckpt.config["name"] == name
    assert ckpt.preprocessing == PREP and ckpt.schema_version == schema.SCHEMA_VERSION
    assert ckpt.galmorph_version == galmorph.__version__
    assert ckpt.meta["epoch"] == 3 and type(ckpt.meta["epoch"]) is int
    assert ckpt.meta["data"] == str(tmp_path)
    assert torch.equal(ckpt.meta["hist"], torch.arange(3))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(_images()), model(_images()), rtol=0, atol=0)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left
    assert path.stat().st_mode & 0o044 == (tmp_path / "sub").stat().st_mode & 0o044  # not private


def test_training_state_round_trips_and_resumes(tmp_path):
    model = build_model("cnn", channels=(8, 16, 32), hidden=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    model(_images()).mean().backward()
    opt.step()
    sched.step(0.5)
    rng = np.random.default_rng(5)
    train_state = {"epoch": 4, "best": 0.12, "torch_rng": torch.get_rng_state(),
                   "numpy_rng": rng.bit_generator.state}
    path = save_checkpoint(tmp_path / "last.pt", model, preprocessing=PREP,
                           optimizer_state=opt.state_dict(), scheduler_state=sched.state_dict(),
                           train_state=train_state)
    ckpt = load_checkpoint(path)
    opt2 = torch.optim.Adam(ckpt.model.parameters(), lr=1.0)
    opt2.load_state_dict(ckpt.optimizer_state)
    assert opt2.param_groups[0]["lr"] == 1e-3
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    sched2 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(ckpt.scheduler_state)
    assert sched2.best == 0.5 and sched2.patience == 1
    assert ckpt.train_state["epoch"] == 4
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = ckpt.train_state["numpy_rng"]
    assert rng2.random() == rng.random()


def test_galmorph_exports_load_checkpoint_lazily(cnn_ckpt):
    path, model = cnn_ckpt
    ckpt = galmorph.load_checkpoint(str(path))
    assert ckpt.config["channels"] == (8, 16, 32) and ckpt.config["hidden"] == 32


def test_save_replaces_atomically_and_keeps_the_old_file_on_failure(cnn_ckpt, monkeypatch):
    path, model = cnn_ckpt
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"meta\['opt'\] of type object"):
        save_checkpoint(path, model, preprocessing=PREP, meta={"opt": object()})

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, preprocessing=PREP)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["cnn.pt"]
    with pytest.raises(TypeError, match="not a galmorph model"):
        save_checkpoint(path, torch.nn.Linear(2, 2), preprocessing=PREP)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is not a file$"):
        load_checkpoint(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is not a file; it holds best.pt"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.99, 100])
def test_truncated_file(cnn_ckpt, keep):
    path, _ = cnn_ckpt
    data = path.read_bytes()
    n = int(len(data) * keep) if keep < 1 else keep
    cut = path.with_name("cut.pt")
    cut.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match=r"cut\.pt is truncated or corrupt"):
        load_checkpoint(cut)


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt"):
        load_checkpoint(tmp_path / "empty.pt")


def test_bare_state_dict_is_foreign(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(build_model("cnn").state_dict(), path)
    with pytest.raises(CheckpointError,
                       match=r"weights\.pt is not a galmorph checkpoint: it holds a bare state "
                             r"dict of 10 tensors"):
        load_checkpoint(path)


class _Trap:
    """Unpickling this would create a file: proof that loading runs no code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    for name, write in [("trap.pkl", lambda f: pickle.dump(_Trap(marker), f, protocol=2)),
                        ("trap.pt", lambda f: torch.save({"x": _Trap(marker)}, f))]:
        with open(tmp_path / name, "wb") as fh:
            write(fh)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.") + ".*refuses to unpickle"):
            load_checkpoint(tmp_path / name)
    assert not marker.exists()


def test_text_file_is_foreign(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("GalaxyID,Class1.1\n100008,0.38\n")
    with pytest.raises(CheckpointError, match=r"notes\.txt is not a torch checkpoint file"):
        load_checkpoint(path)


def test_other_model_than_expected(cnn_ckpt):
    path, _ = cnn_ckpt
    with pytest.raises(CheckpointError,
                       match=r"cnn\.pt holds a 'cnn' model, but 'resnet18-tailored' was expected"):
        load_checkpoint(path, expected_model="resnet18-tailored")


def test_weights_that_do_not_fit_the_config(cnn_ckpt):
    path, _ = cnn_ckpt
    data = torch.load(path, weights_only=True)
    _rewrite(path, config={**data["config"], "hidden": 64})
    with pytest.raises(CheckpointError,
                       match=r"cnn\.pt: the weights do not fit the stored 'cnn' config.*fc1"):
        load_checkpoint(path)
    _rewrite(path, config={**data["config"], "hidden": "wide"})
    with pytest.raises(CheckpointError, match=r"cnn\.pt: cannot rebuild the 'cnn' model"):
        load_checkpoint(path)


def test_other_schema_version(cnn_ckpt):
    path, _ = cnn_ckpt
    _rewrite(path, schema_version="gz2-kaggle-37/0")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "cnn.pt" in msg and "'gz2-kaggle-37/0'" in msg and repr(schema.SCHEMA_VERSION) in msg


def test_unknown_model_damaged_entries_and_newer_format(cnn_ckpt):
    path, _ = cnn_ckpt
    _rewrite(path, preprocessing=[224, 80])
    with pytest.raises(CheckpointError, match=r"cnn\.pt is a damaged .*preprocessing should be"):
        load_checkpoint(path)
    _rewrite(path, preprocessing=PREP)
    _rewrite(path, model="vit")
    with pytest.raises(CheckpointError, match=r"cnn\.pt holds an unknown model 'vit'"):
        load_checkpoint(path)
    _rewrite(path, model="cnn", format_version=99)
    with pytest.raises(CheckpointError, match=r"cnn\.pt uses checkpoint format 99.*upgrade"):
        load_checkpoint(path)


def test_int8_storage_quarters_the_file_and_stays_within_half_a_step(tmp_path):
    model = build_model("resnet18-cpu").eval()
    with torch.no_grad():
        model.fc[-1].weight[3].zero_()  # an all-zero output channel must survive
    full = save_checkpoint(tmp_path / "fp32.pt", model, preprocessing=PREP)
    half = save_checkpoint(tmp_path / "fp16.pt", model, preprocessing=PREP, dtype=torch.float16)
    small = save_checkpoint(tmp_path / "int8.pt", model, preprocessing=PREP, dtype=torch.int8)
    assert small.stat().st_size < 0.3 * full.stat().st_size
    raw = torch.load(small, weights_only=True)
    assert raw["format_version"] == 2
    assert torch.load(half, weights_only=True)["format_version"] == 1  # older readers keep them
    conv = "conv1.weight"
    assert raw["state_dict"][conv].dtype == torch.int8
    assert raw["int8_scales"][conv].shape == (model.conv1.weight.shape[0],)
    assert raw["state_dict"]["bn1.weight"].dtype == torch.float16
    ckpt = load_checkpoint(small)
    got, want = ckpt.model.state_dict(), model.state_dict()
    for key, scale in raw["int8_scales"].items():
        step = scale.reshape(-1, *([1] * (want[key].dim() - 1)))
        assert ((got[key] - want[key]).abs() <= step / 2 + 1e-7).all(), key
    assert torch.equal(got["fc.3.weight"][3], torch.zeros_like(want["fc.3.weight"][3]))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(_images()), model(_images()), atol=2e-2, rtol=0)


def test_damaged_int8_file_and_unknown_storage_type(tmp_path):
    model = build_model("cnn", channels=(8, 16, 32), hidden=32).eval()
    path = save_checkpoint(tmp_path / "q.pt", model, preprocessing=PREP, dtype=torch.int8)
    scales = torch.load(path, weights_only=True)["int8_scales"]
    key = next(iter(scales))
    _rewrite(path, int8_scales={**scales, key: scales[key][:-1]})
    with pytest.raises(CheckpointError, match=rf"q\.pt is a damaged .*{key!r}.*do not match"):
        load_checkpoint(path)
    _rewrite(path, int8_scales={k: v for k, v in scales.items() if k != key})
    with pytest.raises(CheckpointError, match=rf"q\.pt is a damaged .*without scales \({key}"):
        load_checkpoint(path)
    _rewrite(path, int8_scales=[1.0])
    with pytest.raises(CheckpointError, match=r"q\.pt is a damaged .*int8_scales should be"):
        load_checkpoint(path)
    with pytest.raises(TypeError, match=r"torch\.int16.*torch\.int8"):
        save_checkpoint(tmp_path / "x.pt", model, preprocessing=PREP, dtype=torch.int16)
    assert not (tmp_path / "x.pt").exists()
