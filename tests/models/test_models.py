import dataclasses
import subprocess
import sys

import pytest
import torch

from galmorph.labels import check_labels
from galmorph.models import MODEL_NAMES, build_model, model_config, model_entry
from galmorph.models.cnn import CNNConfig, GalaxyCNN
from galmorph.models.resnet import ResNet18, load_torchvision_weights


@pytest.fixture(autouse=True)
def _seed_and_one_thread(one_thread):
    torch.manual_seed(0)


def _images(n=2, size=80, seed=1):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_images_to_37_fractions_and_trains(name):
    model = build_model(name).train()
    x = _images()
    out = model(x)
    assert out.shape == (2, 37) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert (out >= 0).all() and (out <= 1).all()
    target = torch.rand(2, 37, generator=torch.Generator().manual_seed(2))
    ((out - target) ** 2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    torch.testing.assert_close(a, b)  # eval mode is deterministic (no dropout)
    # The split used by timm-style code gives the same result.
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), a)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_alone_rebuilds_the_model(name):
    model = build_model(name, dropout=0.25)
    stored = dataclasses.asdict(model.config)
    assert stored["name"] == name and stored["dropout"] == 0.25
    # Through JSON-like lists too (tuples come back as lists from JSON).
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in stored.items()}
    clone = build_model(as_json)
    assert clone.config == model.config and type(clone) is type(model)
    clone.load_state_dict(model.state_dict(), strict=True)
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(clone.eval()(x), model.eval()(x))


def test_tailored_outputs_obey_the_gz2_tree():
    model = build_model("resnet18-tailored").eval()
    with torch.no_grad():
        out = model(_images(4)).double().numpy()
    check = check_labels(out, atol=1e-5)
    assert check.ok, check.summary()
    assert model.config.output == "tree" and not model.config.maxpool


def test_per_model_batch_size_defaults_live_in_the_registry():
    sizes = {n: (model_entry(n).batch_size, model_entry(n).val_batch_size) for n in MODEL_NAMES}
    assert sizes == {"cnn": (256, 128), "resnet18": (64, 32), "resnet18-tailored": (64, 32),
                     "resnet18-cpu": (64, 32)}
    # Not a model option any more: a run's batch size is the run's.
    with pytest.raises(ValueError, match=r"batch_size.*batch sizes are the run's \(--batch-size"):
        model_config("cnn", batch_size=32)


def test_a_config_stored_with_batch_sizes_still_builds():
    # Checkpoints written before the batch sizes moved to the registry store them.
    stored = {**dataclasses.asdict(model_config("cnn", hidden=16)), "batch_size": 256,
              "val_batch_size": 128}
    model = build_model(stored)
    assert model.config == model_config("cnn", hidden=16)
    ensemble = build_model({"name": "ensemble", "members": (stored, stored), "input_size": 80,
                            "batch_size": 256, "val_batch_size": 128})
    assert [m.config.hidden for m in ensemble.members] == [16, 16]


def test_cpu_model_is_a_half_width_resnet18_with_the_tree_head():
    from torch.utils.flop_counter import FlopCounterMode

    cpu, full = build_model("resnet18-cpu").eval(), build_model("resnet18").eval()
    assert cpu.config.width == 32 and cpu.num_features == 256
    assert cpu.layer1[0].conv1.weight.shape == (32, 32, 3, 3)     # torchvision names, half width
    assert set(cpu.state_dict()) >= {k for k in full.state_dict() if not k.startswith("fc")}
    with torch.no_grad():
        out = cpu(_images(3)).double().numpy()
    assert check_labels(out, atol=1e-5).ok                  # tree head
    flops = {}
    for name, m in (("cpu", cpu), ("full", full)):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            m(_images(1))
        flops[name] = counter.get_total_flops()
    assert 0.2 < flops["cpu"] / flops["full"] < 0.3                # about a quarter the compute
    with pytest.raises(ValueError, match="width must be an integer >= 4"):
        build_model("resnet18", width=2)


def test_cnn_flattens_exactly_2592_features_at_80_pixels():
    model = GalaxyCNN(CNNConfig())
    assert model.config.flat_features == 2592
    assert model.fc1.in_features == 2592
    assert model.forward_features(_images()).shape == (2, 2592)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(7, 7), (5, 5), (3, 3)]
    assert all(c.padding == (1, 1) and c.stride == (1, 1) for c in convs)
    assert convs[-1].out_channels == 32
    assert (model.fc1.out_features, model.fc2.out_features) == (256, 37)


def test_cnn_follows_its_input_size():
    model = build_model("cnn", input_size=64).eval()
    assert model.config.flat_features == 32 * 7 * 7
    assert model(_images(size=64)).shape == (2, 37)
    with pytest.raises(ValueError, match="too small"):
        build_model("cnn", input_size=8)


def test_tailored_stem_keeps_5x5_maps_at_layer4():
    seen = {}
    for name in ("resnet18", "resnet18-tailored"):
        model = build_model(name).eval()
        model.layer4.register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.shape}))
        with torch.no_grad():
            model(_images(1))
    assert seen["resnet18"][-2:] == (3, 3)
    assert seen["resnet18-tailored"][-2:] == (5, 5)


def test_input_normalisation_lives_inside_the_model():
    model = build_model("resnet18").eval()
    assert "input_mean" not in model.state_dict()  # config, not weights
    assert torch.allclose(model.input_mean.flatten(), torch.tensor(model.config.input_mean))
    other = build_model("resnet18", input_mean=(0.0, 0.0, 0.0), input_std=(1.0, 1.0, 1.0)).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(model(_images()), other(_images()))


def test_bad_names_and_options_are_refused():
    with pytest.raises(ValueError, match="unknown model 'resnet50'.*cnn, resnet18"):
        build_model("resnet50")
    with pytest.raises(ValueError, match="unknown option.*dropuot.*for model 'cnn'"):
        build_model("cnn", dropuot=0.1)
    with pytest.raises(ValueError, match="needs a 'name' entry"):
        build_model({"dropout": 0.1})
    with pytest.raises(ValueError, match="config name 'cnn' does not match model 'resnet18'"):
        model_config("resnet18", name="cnn")
    with pytest.raises(ValueError, match="output must be one of"):
        build_model("resnet18", output="softmax")


# torchvision.models.resnet18() state dict, written out from torchvision's
# source: (module, kind, shape). BatchNorm modules hold five entries each.
_TV_MODULES = """
conv1 conv 64,3,7,7
bn1 bn 64
layer1.0.conv1 conv 64,64,3,3
layer1.0.bn1 bn 64
layer1.0.conv2 conv 64,64,3,3
layer1.0.bn2 bn 64
layer1.1.conv1 conv 64,64,3,3
layer1.1.bn1 bn 64
layer1.1.conv2 conv 64,64,3,3
layer1.1.bn2 bn 64
layer2.0.conv1 conv 128,64,3,3
layer2.0.bn1 bn 128
layer2.0.conv2 conv 128,128,3,3
layer2.0.bn2 bn 128
layer2.0.downsample.0 conv 128,64,1,1
layer2.0.downsample.1 bn 128
layer2.1.conv1 conv 128,128,3,3
layer2.1.bn1 bn 128
layer2.1.conv2 conv 128,128,3,3
layer2.1.bn2 bn 128
layer3.0.conv1 conv 256,128,3,3
layer3.0.bn1 bn 256
layer3.0.conv2 conv 256,256,3,3
layer3.0.bn2 bn 256
layer3.0.downsample.0 conv 256,128,1,1
layer3.0.downsample.1 bn 256
layer3.1.conv1 conv 256,256,3,3
layer3.1.bn1 bn 256
layer3.1.conv2 conv 256,256,3,3
layer3.1.bn2 bn 256
layer4.0.conv1 conv 512,256,3,3
layer4.0.bn1 bn 512
layer4.0.conv2 conv 512,512,3,3
layer4.0.bn2 bn 512
layer4.0.downsample.0 conv 512,256,1,1
layer4.0.downsample.1 bn 512
layer4.1.conv1 conv 512,512,3,3
layer4.1.bn1 bn 512
layer4.1.conv2 conv 512,512,3,3
layer4.1.bn2 bn 512
fc linear 1000,512
"""


def _torchvision_keys():
    keys = []
    for line in _TV_MODULES.strip().splitlines():
        module, kind, shape = line.split()
        shape = tuple(int(s) for s in shape.split(","))
        if kind == "conv":
            keys.append((f"{module}.weight", shape))
        elif kind == "linear":
            keys += [(f"{module}.weight", shape), (f"{module}.bias", shape[:1])]
        else:
            keys += [(f"{module}.{p}", shape) for p in ("weight", "bias", "running_mean",
                                                        "running_var")]
            keys.append((f"{module}.num_batches_tracked", ()))
    return keys


def test_resnet18_has_torchvision_names_shapes_and_parameter_count():
    model = build_model("resnet18", num_outputs=1000)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    expected = _torchvision_keys()
    assert len(expected) == 122
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == expected


def test_torchvision_state_dict_loads_strictly_and_into_the_37_class_heads():
    gen = torch.Generator().manual_seed(3)
    tv_state = {k: (torch.randint(0, 100, shape, generator=gen) if k.endswith("tracked")
                    else torch.randn(shape, generator=gen)) for k, shape in _torchvision_keys()}
    full = build_model("resnet18", num_outputs=1000)
    full.load_state_dict(tv_state, strict=True)
    for name in ("resnet18", "resnet18-tailored"):
        model = build_model(name)
        fc_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("fc.")}
        skipped = load_torchvision_weights(model, tv_state)
        assert skipped == ["fc.weight", "fc.bias"]
        state = model.state_dict()
        assert torch.equal(state["layer3.1.conv2.weight"], tv_state["layer3.1.conv2.weight"])
        assert torch.equal(state["bn1.running_var"], tv_state["bn1.running_var"])
        assert all(torch.equal(state[k], v) for k, v in fc_before.items())  # head untouched
    broken = dict(tv_state)
    broken["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    del broken["layer4.1.bn2.bias"]
    with pytest.raises(ValueError, match=r"layer4\.1\.bn2\.bias.*layer1\.0\.conv1\.weight"):
        load_torchvision_weights(ResNet18(), broken)


def test_importing_the_zoo_does_not_import_torch():
    code = ("import sys, galmorph.models as m; "
            "print(m.MODEL_NAMES == ('cnn', 'resnet18', 'resnet18-tailored', 'resnet18-cpu'), "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_the_registry_is_the_one_list_of_models():
    from galmorph.cli import build_parser
    from galmorph.models import AUGMENTED_BY_DEFAULT, MODEL_NAMES, model_entry, register_model

    assert MODEL_NAMES == ("cnn", "resnet18", "resnet18-tailored", "resnet18-cpu")
    assert AUGMENTED_BY_DEFAULT == ("resnet18-tailored", "resnet18-cpu")
    assert model_entry("resnet18-cpu").preset["width"] == 32
    assert model_entry("cnn").preprocessing == {"crop": 224, "size": 80}
    with pytest.raises(ValueError, match="unknown model 'vgg'; choose one of cnn, resnet18"):
        model_entry("vgg")
    with pytest.raises(ValueError, match="registered already"):
        register_model("cnn", "galmorph.models.cnn:GalaxyCNN", "galmorph.models.cnn:CNNConfig")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in ("train", "demo"):
        action = next(a for a in sub.choices[command]._actions if a.dest == "model")
        assert tuple(action.choices) == MODEL_NAMES


def test_resolve_model_from_path_checkpoint_module_and_wrapper(tmp_path):
    from galmorph.models import build_model, load_checkpoint, save_checkpoint
    from galmorph.models.resolve import resolve_model

    model = build_model("cnn", input_size=64)
    path = save_checkpoint(tmp_path / "m.pt", model, preprocessing={"crop": 200, "size": 64})
    from_path = resolve_model(str(path))
    assert from_path.preprocessing == {"crop": 200, "size": 64} and from_path.name == "cnn"
    assert from_path.path == path and from_path.checkpoint is not None
    from_ckpt = resolve_model(load_checkpoint(path), preprocessing={"crop": 180})
    assert from_ckpt.preprocessing == {"crop": 180, "size": 64}
    bare = resolve_model(model)          # the registry's crop, the config's input size
    assert bare.model is model and bare.preprocessing == {"crop": 224, "size": 64}
    assert bare.path is None and bare.name == "cnn"

    class Wrapped(torch.nn.Module):      # as DistributedDataParallel holds the network
        def __init__(self, module):
            super().__init__()
            self.module = module

    assert resolve_model(Wrapped(model)).model is model
    with pytest.raises(TypeError, match="expected a galmorph model, Checkpoint or checkpoint "
                                        "path, not int"):
        resolve_model(3)
