"""A backbone that is not timm's, for the tests of the ``Backbone`` protocol (named by class path
``tests.backbones.TwoScales``)."""

import torch


class TwoScales(torch.nn.Module):
    """Two strided convolutions: maps at strides 4 and 8, ``width`` and ``2 * width`` channels."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.channels = [width, 2 * width]
        self.first = torch.nn.Conv2d(3, width, kernel_size=4, stride=4)
        self.second = torch.nn.Conv2d(width, 2 * width, kernel_size=2, stride=2)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        fine = self.first(images)
        return [fine, self.second(fine)]
