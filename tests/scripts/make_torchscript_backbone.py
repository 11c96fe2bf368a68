#!/usr/bin/env python3
"""Writes a small TorchScript feature extractor for fedtl's tests: [N,1,28,28] -> [N,24].

  python3 make_torchscript_backbone.py OUT.pt
"""
import sys
import torch
import torch.nn as nn


class Features(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 5, stride=2)
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)


torch.manual_seed(0)
torch.jit.script(Features()).save(sys.argv[1])
