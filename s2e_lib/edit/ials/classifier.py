"""IALS's attribute classifier: a ResNet-18 trunk plus a 2-way ``extra_layer``.

State-dict keys are ``backbone.<i>.…`` where ``backbone`` is
``Sequential(conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool)`` (so
``backbone.0.weight`` is conv1, ``backbone.4.0.conv1.weight`` the first block of layer1)
and ``extra_layer.weight`` / ``extra_layer.bias``: IALS's ``classifier/<attr>/weight.pkl``
loads unchanged. Class 1 means the attribute is present.

Input: a generator image in [-1, 1] (N, 3, R, R). :meth:`AttributeClassifier.forward`
maps it to [0, 1] and average-pools it by ``pool`` (4: 1024² → 256², as IALS does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2e_lib.nn.resnet import ResNet18

#: Attributes IALS ships classifiers and directions for.
ATTRIBUTES: tuple[str, ...] = ("smiling", "male", "young", "pose", "eyeglasses")


class AttributeClassifier(nn.Module):
    """ResNet-18 binary attribute classifier with IALS's key layout.

    Parameters
    ----------
    pool : int
        Average-pooling factor applied to the generator image before the ResNet.
    """

    def __init__(self, pool: int = 4):
        super().__init__()
        self.backbone = nn.Sequential(*ResNet18().trunk())
        self.extra_layer = nn.Linear(512, 2)
        self.pool = pool

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        """Raw two-class logits for images already in [0, 1] and at classifier size."""
        return self.extra_layer(torch.flatten(self.backbone(x01), 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) for generator images in [-1, 1]."""
        x = (image + 1.0) / 2.0
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool)
        return self.logits(x)

    @torch.no_grad()
    def probability(self, image: torch.Tensor) -> torch.Tensor:
        """P(attribute present) per image, shape (N,)."""
        return self.forward(image).softmax(dim=1)[:, 1]
