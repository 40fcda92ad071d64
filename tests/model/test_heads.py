import pytest
import torch
from torch import nn

from facexformer.model.heads import ParsingHead


@pytest.mark.parametrize("upscale", [1, 2, 4])
def test_parsing_head_upscale_sets_the_output_size_and_keeps_the_layer_layout(upscale):
    torch.manual_seed(0)
    head = ParsingHead(16, (8, 4), upscale=upscale)
    logits = head(torch.randn(2, 11, 16), torch.randn(2, 16, 5, 5))
    assert logits.shape == (2, 11, 5 * upscale, 5 * upscale)
    kinds = [type(layer) for layer in head.upscaling]
    assert kinds[1:3] == [type(head.upscaling[1]), nn.GELU] and kinds[4] is nn.GELU
    doubling = [isinstance(head.upscaling[i], nn.ConvTranspose2d) for i in (0, 3)]
    assert doubling == {1: [False, False], 2: [True, False], 4: [True, True]}[upscale]


def test_parsing_head_reads_channels_last_and_contiguous_tokens_alike():
    torch.manual_seed(0)
    head = ParsingHead(16, (8, 4))
    tokens, image = torch.randn(2, 11, 16), torch.randn(2, 16, 5, 5)
    channels_last = image.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(head(tokens, channels_last), head(tokens, image))


def test_parsing_head_refuses_other_upscales():
    with pytest.raises(ValueError, match="upscale must be 1, 2 or 4"):
        ParsingHead(16, upscale=3)
