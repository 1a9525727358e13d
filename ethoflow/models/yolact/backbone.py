"""ResNet backbones laid out as in upstream YOLACT (``backbone.conv1``, ``backbone.bn1``,
``backbone.layers.{stage}.{block}.*``), so official YOLACT checkpoints load key for key."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


class ResNetBackbone(nn.Module):
    """Stem + four residual stages; ``forward`` returns the output of every stage (C2..C5)."""

    def __init__(self, depth: int, norm_layer=nn.BatchNorm2d, zero_init_residual: bool = True):
        super().__init__()
        block, counts = DEPTHS[depth]
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList()
        self.channels: list[int] = []
        inplanes = 64
        for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if stage == 0 else 2
            out = planes * block.expansion
            downsample = None
            if stride != 1 or inplanes != out:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
                    norm_layer(out),
                )
            blocks = [block(inplanes, planes, stride, downsample, norm_layer=norm_layer)]
            blocks += [block(out, planes, norm_layer=norm_layer) for _ in range(1, n)]
            self.layers.append(nn.Sequential(*blocks))
            self.channels.append(out)
            inplanes = out
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # each block starts as identity: trains from scratch reliably
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor, stages: int = 4) -> list[torch.Tensor]:
        """Outputs of the first ``stages`` stages (C2, C3, ...)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for layer in self.layers[:stages]:
            x = layer(x)
            outs.append(x)
        return outs
