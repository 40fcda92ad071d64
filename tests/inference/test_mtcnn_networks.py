import math

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.inference.mtcnn_networks import (
    OutputNet,
    ProposalNet,
    RefineNet,
    _flatten_width_height_channel,
    pretrained_mtcnn_networks,
)


@pytest.fixture(scope="module")
def networks():
    return pretrained_mtcnn_networks()


@pytest.mark.parametrize(("height", "width", "cells"), [(12, 12, (1, 1)), (30, 41, (10, 16)), (61, 24, (26, 7))])
def test_proposal_net_gives_one_cell_per_12_pixel_window_at_stride_2(networks, height, width, cells):
    offsets, face_prob = networks[0](torch.randn(2, 3, height, width))
    assert offsets.shape == (2, 4, *cells) and face_prob.shape == (2, *cells)
    # max pooling rounds up, so an odd size gets one more (partial) window
    assert cells == (math.ceil((height - 2) / 2) - 4, math.ceil((width - 2) / 2) - 4)
    assert torch.all((face_prob >= 0) & (face_prob <= 1))


def test_refine_and_output_net_shapes(networks):
    offsets, face_prob = networks[1](torch.randn(5, 3, 24, 24))
    assert offsets.shape == (5, 4) and face_prob.shape == (5,)
    offsets, points, face_prob = networks[2](torch.randn(3, 3, 48, 48))
    assert offsets.shape == (3, 4) and points.shape == (3, 10) and face_prob.shape == (3,)


def test_packaged_weights_load_strictly_and_tell_a_face_from_a_flat_patch(networks, shared_dir):
    counts = [sum(p.numel() for p in net.parameters()) for net in networks]
    assert counts == [6632, 100178, 389040]
    assert all(not net.training for net in networks)
    untrained = [ProposalNet(), RefineNet(), OutputNet()]
    for net, fresh in zip(networks, untrained, strict=True):
        assert not torch.equal(net.conv1.weight, fresh.conv1.weight)
    # a face box MTCNN itself found on this photo (tests/fixtures/mtcnn), squared, and a uniform grey patch
    photo = Image.open(shared_dir / "reference/landmarks/samples/aflw/flickr/0/image04476.jpg").convert("RGB")
    face = photo.crop((107, 106, 246, 245))
    for net, size in zip(networks[1:], (24, 48), strict=True):
        pixels = torch.from_numpy(
            np.stack(
                [np.asarray(face.resize((size, size), Image.Resampling.BOX)), np.full((size, size, 3), 128, np.uint8)]
            )
        ).permute(0, 3, 1, 2)
        face_prob = net((pixels.float() - 127.5) / 128)[-1]
        assert face_prob[0] > 0.9 and face_prob[1] < 0.1


def test_dense_layers_read_width_then_height_then_channel():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)  # (B, C, H, W)
    expected = [float(x[0, c, h, w]) for w in range(4) for h in range(3) for c in range(2)]
    assert _flatten_width_height_channel(x)[0].tolist() == expected
