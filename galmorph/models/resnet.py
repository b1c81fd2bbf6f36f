"""ResNet-18 in plain torch, with torchvision's parameter names, and the tailored variant.

:class:`ResNet18` reproduces ``torchvision.models.resnet18`` module for module
(``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of ``BasicBlock`` with ``conv1``,
``bn1``, ``conv2``, ``bn2``, ``downsample.0``/``.1``, and ``fc``), so a
torchvision state dict loads with ``strict=True`` (He et al. 2016). torchvision
itself is not needed; :func:`load_torchvision_weights` takes its state dict.

Two configurations are registered in :mod:`galmorph.models`:

``"resnet18"``
    The standard network with ``fc`` replaced by ``Linear(512, 37)`` and a
    sigmoid.
``"resnet18-tailored"``
    The paper's final model. The head gains a hidden layer
    (``Linear(512, 256)``, ReLU, dropout, ``Linear(256, 37)``) and its outputs
    are made consistent with the GZ2 tree by
    :func:`~galmorph.models.tree.tree_normalize` (per-question softmax by
    default; ``tree_kind="relu"`` gives the paper's rectify-and-divide). The stem drops the max-pool:
    the ImageNet stem divides the resolution by 4 before ``layer1``, so an
    80x80 galaxy reaches ``layer4`` as a 3x3 map (a 1-pixel border on each
    side of a single central pixel) and fine structure such as spiral arms or
    a bar is pooled away early. Without the max-pool ``layer4`` sees 5x5 maps,
    at ~3.5x the compute of the standard stem (0.88 rather than 0.25 GMAC per
    80x80 image). Keeping the 7x7 stride-2 ``conv1`` (a CIFAR-style stride-1
    stem would cost another 4x, ~3.5 GMAC) leaves every parameter shape
    unchanged, so ImageNet weights still load. The hidden layer has no batch norm so
    that a final batch of one galaxy still trains.

Inputs are ``float`` images in [0, 1]; the ImageNet mean/std normalisation
(what torchvision's weights expect) happens inside the model, in
non-persistent buffers that do not appear in the state dict.

References
----------
He K., Zhang X., Ren S., Sun J., 2016, CVPR, "Deep Residual Learning for Image Recognition".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from galmorph import schema
from galmorph.models._base import GZ2Network, check_output

__all__ = ["ResNetConfig", "BasicBlock", "ResNet18", "load_torchvision_weights",
           "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ResNetConfig:
    """Hyper-parameters of :class:`ResNet18` (plain data, JSON-able).

    Attributes
    ----------
    name : str
        A registered model built by this class: "resnet18", "resnet18-tailored" or
        "resnet18-cpu".
    num_outputs : int
        37 for GZ2 (1000 gives torchvision's ImageNet network).
    maxpool : bool
        Keep the stem's 3x3 stride-2 max-pool (False for the tailored model).
    head_hidden : int
        Width of the hidden head layer; 0 for a single ``Linear(512, num_outputs)``.
    dropout : float
        Dropout before the last linear layer.
    output : {"sigmoid", "tree"}
    tree_kind : {"relu", "softmax"}
        Per-question normalisation when ``output="tree"``.
    width : int
        Channels of the stem and ``layer1``; ``layer2`` .. ``layer4`` double it
        each (64 gives torchvision's network; 32 a quarter of its compute,
        which is what a CPU affords, see ``"resnet18-cpu"``).
    input_size : int
        Side of the square input images, pixels (informative; any size >= 32 runs).
    input_mean, input_std : tuple of 3 float
        Normalisation applied inside the model to [0, 1] inputs.
    """

    name: str = "resnet18"
    num_outputs: int = schema.N_ANSWERS
    maxpool: bool = True
    head_hidden: int = 0
    dropout: float = 0.0
    output: str = "sigmoid"
    tree_kind: str = "relu"
    width: int = 64
    input_size: int = 80
    input_mean: tuple = IMAGENET_MEAN
    input_std: tuple = IMAGENET_STD

    def __post_init__(self):
        self.input_mean, self.input_std = tuple(self.input_mean), tuple(self.input_std)
        names = _resnet_names()
        if self.name not in names:
            raise ValueError(f"ResNetConfig.name must be one of {names}, not {self.name!r}")
        check_output(self)
        if isinstance(self.width, bool) or int(self.width) != self.width or self.width < 4:
            raise ValueError(f"width must be an integer >= 4, not {self.width!r}")
        if self.output == "tree" and self.num_outputs != schema.N_ANSWERS:
            raise ValueError(f"output='tree' needs num_outputs={schema.N_ANSWERS}")


def _resnet_names():
    """The registered models built by :class:`ResNet18` (galmorph.models' registry)."""
    from galmorph.models import MODEL_NAMES, model_entry

    return tuple(n for n in MODEL_NAMES if model_entry(n).config_class.endswith(":ResNetConfig"))


def _conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3x3 convolutions and a shortcut.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    stride : int
        Stride of the first convolution (default 1). Where it is not 1 or
        ``c_in != c_out`` the shortcut is a 1x1 convolution with batch norm.
    """

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(GZ2Network):
    """ResNet-18 with torchvision's parameter names; see the module docstring.

    Parameters
    ----------
    config : ResNetConfig, optional

    Examples
    --------
    >>> import torch
    >>> model = ResNet18(ResNetConfig())
    >>> model(torch.rand(2, 3, 80, 80)).shape
    torch.Size([2, 37])
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = config = config or ResNetConfig()
        w = int(config.width)
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if config.maxpool else nn.Identity()
        widths, c_in = (w, 2 * w, 4 * w, 8 * w), w
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}",
                    nn.Sequential(BasicBlock(c_in, width, stride), BasicBlock(width, width)))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c_in
        if config.head_hidden:
            self.head_drop = nn.Identity()
            self.fc = nn.Sequential(nn.Linear(c_in, config.head_hidden), nn.ReLU(inplace=True),
                                    nn.Dropout(config.dropout),
                                    nn.Linear(config.head_hidden, config.num_outputs))
        else:  # plain "fc.weight"/"fc.bias", as in torchvision
            self.head_drop = nn.Dropout(config.dropout)
            self.fc = nn.Linear(c_in, config.num_outputs)
        self._init_io(config)
        self._init_weights()

    def _init_weights(self):
        # torchvision's initialisation (He et al. 2015 for convolutions).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        """(B, 3, H, W) images in [0, 1] -> (B, 512) globally pooled features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x)))))  # (B, 64, H/4, W/4) or H/2
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, h, w)
        return torch.flatten(self.avgpool(x), 1)  # (B, 512)

    def forward_head(self, features):
        """(B, 512) features -> (B, num_outputs) fractions in [0, 1]."""
        return self.to_output(self.fc(self.head_drop(features)))


def load_torchvision_weights(model, state_dict, *, include_fc=False):
    """Load a torchvision ``resnet18`` state dict into a :class:`ResNet18`.

    Parameters
    ----------
    model : ResNet18
    state_dict : mapping of str -> Tensor
        For example ``torchvision.models.resnet18(weights="DEFAULT").state_dict()``.
    include_fc : bool
        Also copy the classifier (only when the shapes agree, e.g. 1000 outputs).

    Returns
    -------
    list of str
        The keys of ``state_dict`` that were skipped (the ``fc`` ones).

    Raises
    ------
    ValueError
        When a backbone parameter is missing or has a different shape.
    """
    skipped = [k for k in state_dict if k.startswith("fc.") and not include_fc]
    wanted = {k: v for k, v in state_dict.items() if k not in skipped}
    own = model.state_dict()
    backbone = [k for k in own if not k.startswith("fc.")]
    missing = [k for k in backbone if k not in wanted]
    unexpected = [k for k in wanted if k not in own]
    bad_shape = [f"{k}: {tuple(wanted[k].shape)} vs {tuple(own[k].shape)}"
                 for k in wanted if k in own and wanted[k].shape != own[k].shape]
    if missing or unexpected or bad_shape:
        raise ValueError("not a torchvision resnet18 state dict: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}, "
                         f"shape mismatch {bad_shape[:3]}")
    model.load_state_dict(wanted, strict=False)
    return skipped
