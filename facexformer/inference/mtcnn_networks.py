"""The three MTCNN networks (Zhang et al. 2016) with the weights facenet-pytorch 2.6.0 ships.

Parameter names and shapes follow the released state dicts, stored unchanged as safetensors in
``facexformer/assets/mtcnn/`` (provenance and MIT licence: ``facexformer/assets/README.md``). All three take
images normalised as ``(pixel - 127.5) / 128`` in RGB order.

- :class:`ProposalNet` (P-Net): fully convolutional, a 12x12 window per output cell, stride 2.
- :class:`RefineNet` (R-Net): 24x24 crops.
- :class:`OutputNet` (O-Net): 48x48 crops; also five landmarks.

The dense layers of R-Net and O-Net read their input flattened in (width, height, channel) order, the order
the weights were converted from. All three run channels-last (NHWC): torch's CPU max pooling is 3.5–12x and
these small convolutions ~2x faster than channels-first.
"""

from __future__ import annotations

from importlib import resources

import torch
from safetensors.torch import load
from torch import nn

ASSET_FOLDER = "assets/mtcnn"


def _conv_prelu(inputs: int, outputs: int, kernel: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(inputs, outputs, kernel_size=kernel), nn.PReLU(outputs)


def _face_probability(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the (background, face) axis 1; the face channel."""
    return torch.softmax(logits, dim=1)[:, 1]


def _flatten_width_height_channel(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, W * H * C), width slowest, channel fastest."""
    return x.transpose(1, 3).flatten(1)


class ProposalNet(nn.Module):
    """P-Net: (B, 3, H, W) -> box offsets (B, 4, h, w) and face probabilities (B, h, w).

    ``h = ceil((H - 2) / 2) - 4`` (likewise ``w``): one cell per 12x12 window at stride 2.
    """

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 10, 3)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(10, 16, 3)
        self.conv3, self.prelu3 = _conv_prelu(16, 32, 3)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), _face_probability(self.conv4_1(x))


class RefineNet(nn.Module):
    """R-Net: (B, 3, 24, 24) -> box offsets (B, 4) and face probabilities (B,)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 28, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(28, 48, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv_prelu(48, 64, 2)
        self.dense4, self.prelu4 = nn.Linear(3 * 3 * 64, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_width_height_channel(x)))
        return self.dense5_2(x), _face_probability(self.dense5_1(x))


class OutputNet(nn.Module):
    """O-Net: (B, 3, 48, 48) -> box offsets (B, 4), landmarks (B, 10) and face probabilities (B,).

    Landmarks are five x fractions of the crop's width, then five y fractions of its height, in the order
    left eye, right eye, nose, left mouth corner, right mouth corner (image left/right).
    """

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _conv_prelu(3, 32, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv_prelu(32, 64, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv_prelu(64, 64, 3)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = _conv_prelu(64, 128, 2)
        self.dense5, self.prelu5 = nn.Linear(3 * 3 * 128, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten_width_height_channel(x)))
        return self.dense6_2(x), self.dense6_3(x), _face_probability(self.dense6_1(x))


def load_mtcnn_weights(network: nn.Module, name: str) -> nn.Module:
    """Load the packaged weights ``assets/mtcnn/<name>.safetensors`` into ``network`` (strict); returns it
    in eval mode."""
    data = resources.files("facexformer").joinpath(f"{ASSET_FOLDER}/{name}.safetensors").read_bytes()
    network.load_state_dict(load(data), strict=True)
    return network.eval()


def pretrained_mtcnn_networks() -> tuple[ProposalNet, RefineNet, OutputNet]:
    """P-, R- and O-Net with the packaged facenet-pytorch weights, on the CPU, in eval mode."""
    return (
        load_mtcnn_weights(ProposalNet(), "pnet"),
        load_mtcnn_weights(RefineNet(), "rnet"),
        load_mtcnn_weights(OutputNet(), "onet"),
    )
