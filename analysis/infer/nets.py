"""MedWS's own network architectures, the only ones a ``state_dict`` manifest may name."""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, padding=1), nn.InstanceNorm3d(c_out, affine=True), nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(c_out, c_out, 3, padding=1), nn.InstanceNorm3d(c_out, affine=True), nn.LeakyReLU(0.01, inplace=True),
    )


class UNet3D(nn.Module):
    """A plain 3-D U-Net: ``channels`` per level, 2× down/up-sampling, logits out.

    Input (B, in_channels, Z, Y, X) with Z, Y, X divisible by 2**(len(channels)-1).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, channels: tuple[int, ...] = (8, 16, 32)) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        c_prev = in_channels
        for c in channels:
            self.down.append(_block(c_prev, c))
            c_prev = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c_hi, c_lo in zip(channels[::-1][:-1], channels[::-1][1:], strict=True):
            self.up.append(nn.ConvTranspose3d(c_hi, c_lo, 2, stride=2))
            self.merge.append(_block(2 * c_lo, c_lo))
        self.head = nn.Conv3d(channels[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = nn.functional.max_pool3d(x, 2)
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


class HeatmapNet3D(nn.Module):
    """A small 3-D encoder–decoder that predicts one lesion-probability logit per voxel.

    Made for detection on anisotropic CT (thick slices): a strided stem halves y and x, two
    poolings halve all three axes, and the decoder works back to the stem's grid; the logits are
    then upsampled (trilinear) to the input grid. Input (B, in_channels, Z, Y, X) with Z divisible
    by 4 and Y, X by 8; output (B, out_channels, Z, Y, X) logits. Boxes are made from the
    thresholded map by :mod:`analysis.infer.detect`.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels: tuple[int, ...] = (8, 16, 32)) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, c0, 3, stride=(1, 2, 2), padding=1), nn.InstanceNorm3d(c0, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(c0, c0, 3, padding=1), nn.InstanceNorm3d(c0, affine=True), nn.LeakyReLU(0.01, inplace=True),
        )
        self.enc1 = _block(c0, c1)
        self.enc2 = _block(c1, c2)
        self.up1 = nn.ConvTranspose3d(c2, c1, 2, stride=2)
        self.dec1 = _block(2 * c1, c1)
        self.up0 = nn.ConvTranspose3d(c1, c0, 2, stride=2)
        self.dec0 = _block(2 * c0, c0)
        self.head = nn.Conv3d(c0, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        s1 = self.enc1(nn.functional.max_pool3d(s0, 2))
        b = self.enc2(nn.functional.max_pool3d(s1, 2))
        d1 = self.dec1(torch.cat([self.up1(b), s1], dim=1))
        d0 = self.dec0(torch.cat([self.up0(d1), s0], dim=1))
        return nn.functional.interpolate(self.head(d0), size=x.shape[2:], mode="trilinear", align_corners=False)


class SliceClassifier2D(nn.Module):
    """A small 2-D CNN classifying single-channel thumbnails (B, in_channels, H, W) into ``n_classes`` logits.

    Four conv–norm–ReLU stages with 2× pooling, global average pooling and a linear layer.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 3, channels: tuple[int, ...] = (16, 32, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_prev = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_prev, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_prev = c
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(c_prev, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return self.fc(self.dropout(x))
