"""The default detector: a compact one-stage, anchor-free, CenterNet-style network that
trains from scratch on a few CPU cores in minutes.

Backbone to stride 16, a light top-down neck back to stride 4, and three heads:
a class-agnostic centre heatmap and the box size and centre offset at stride 4, and a
softmax classifier on stride-8 features (which see the whole object) upsampled to
stride 4. A detection is a local maximum of the centre heatmap; its score is
centre x class probability, and its probability vector is the classifier's softmax.

Factorising "is there an object" from "which class" is what makes the model learn rare
classes from a few hundred images: every object trains the shared centre heatmap, and
the softmax cross-entropy teaches each object's class against all the others, where a
per-class heatmap gets positives for a rare class only from its own few instances.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from al_core.models.base import Prediction

STRIDE = 4


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a, self.b = _conv(channels, channels), nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class CompactCenterNet(nn.Module):
    def __init__(self, num_classes: int, *, width: int = 16) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if width < 4:
            raise ValueError(f"width must be >= 4, got {width}")
        self.num_classes = num_classes
        w = width
        self.stem = _conv(3, w, 2)  # stride 2
        self.s4 = nn.Sequential(_conv(w, 2 * w, 2), _Residual(2 * w))
        self.s8 = nn.Sequential(_conv(2 * w, 4 * w, 2), _Residual(4 * w))
        self.s16 = nn.Sequential(_conv(4 * w, 6 * w, 2), _Residual(6 * w), _Residual(6 * w))
        self.lat8, self.top16 = nn.Conv2d(4 * w, 2 * w, 1), nn.Conv2d(6 * w, 2 * w, 1)
        self.lat4 = nn.Conv2d(2 * w, 2 * w, 1)
        self.smooth = _conv(2 * w, 2 * w)
        self.heatmap = nn.Sequential(_conv(2 * w, 2 * w), nn.Conv2d(2 * w, 1, 1))
        self.regress = nn.Sequential(_conv(2 * w, 2 * w), nn.Conv2d(2 * w, 4, 1))
        self.classify = nn.Sequential(_conv(10 * w, 4 * w), _conv(4 * w, 4 * w),
                                      nn.Conv2d(4 * w, num_classes, 1))
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - 0.1) / 0.1))  # prior 0.1

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (N, 3, S, S) in [0, 1] -> centre logits (N, 1, S/4, S/4), class logits
        (N, C, S/4, S/4), size and offset (N, 4, S/4, S/4) in stride units, embedding
        (N, 6w)."""
        x = self.stem(images - 0.5)
        c4 = self.s4(x)  # (N, 2w, S/4, S/4)
        c8 = self.s8(c4)  # (N, 4w, S/8, S/8)
        c16 = self.s16(c8)  # (N, 6w, S/16, S/16)
        p8 = self.lat8(c8) + F.interpolate(self.top16(c16), size=c8.shape[-2:], mode="nearest")
        p4 = self.smooth(self.lat4(c4) + F.interpolate(p8, size=c4.shape[-2:], mode="nearest"))
        q8 = torch.cat([c8, F.interpolate(c16, size=c8.shape[-2:], mode="nearest")], dim=1)
        classes = F.interpolate(self.classify(q8), size=c4.shape[-2:], mode="bilinear",
                                align_corners=False)
        return {"heatmap": self.heatmap(p4), "classes": classes, "regress": self.regress(p4),
                "embedding": c16.mean(dim=(2, 3))}

    # -- the Detector interface ---------------------------------------------
    def losses(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]
               ) -> dict[str, torch.Tensor]:
        out = self(images)
        hm_t, cls_t, reg_t, mask = encode_targets(targets, out["heatmap"].shape[-2:],
                                                  device=images.device)
        num_pos = mask.sum().clamp(min=1.0)
        return {"heatmap": focal_loss(out["heatmap"], hm_t) / num_pos,
                "class": F.cross_entropy(out["classes"], cls_t, ignore_index=-1,
                                         reduction="sum", label_smoothing=0.05) / num_pos,
                "size": 0.1 * (F.l1_loss(out["regress"][:, :2], reg_t[:, :2], reduction="none")
                               * mask).sum() / num_pos,
                "offset": (F.l1_loss(out["regress"][:, 2:], reg_t[:, 2:], reduction="none")
                           * mask).sum() / num_pos}

    def predict(self, images: torch.Tensor, *, score_threshold: float = 0.05,
                max_detections: int = 100) -> list[Prediction]:
        out = self(images)
        return decode(out["heatmap"], out["classes"], out["regress"], out["embedding"],
                      score_threshold=score_threshold, max_detections=max_detections)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, summed (divide by the number of objects)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum())


def _radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CenterNet's Gaussian radius for a box of h x w cells."""
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode_targets(targets: list[dict[str, torch.Tensor]], size: tuple[int, int], *,
                   device) -> tuple[torch.Tensor, ...]:
    """Centre heatmap (N, 1, H, W), the class index at each object centre (N, H, W; -1
    elsewhere), regression (N, 4, H, W) = (w, h, dx, dy) in stride units at each centre,
    and the centre mask (N, 1, H, W)."""
    n, (h, w) = len(targets), size
    heat = np.zeros((n, 1, h, w), np.float32)
    cls = np.full((n, h, w), -1, np.int64)
    reg = np.zeros((n, 4, h, w), np.float32)
    mask = np.zeros((n, 1, h, w), np.float32)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    for i, t in enumerate(targets):
        boxes = t["boxes"].detach().cpu().numpy() / STRIDE  # (M, 4) in cells
        for (x1, y1, x2, y2), k in zip(boxes, t["labels"].tolist()):
            bw, bh = x2 - x1, y2 - y1
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sigma = max(0.0, int(_radius(bh, bw))) * 2 / 6 + 1e-6
            if sigma > 1e-3:
                g = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma ** 2))
            else:
                g = np.zeros((h, w), np.float32)
            g[iy, ix] = 1.0
            np.maximum(heat[i, 0], g, out=heat[i, 0])
            cls[i, iy, ix] = k
            reg[i, :, iy, ix] = (bw, bh, cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    return (torch.from_numpy(heat).to(device), torch.from_numpy(cls).to(device),
            torch.from_numpy(reg).to(device), torch.from_numpy(mask).to(device))


def decode(heatmap: torch.Tensor, classes: torch.Tensor, regress: torch.Tensor,
           embedding: torch.Tensor, *, score_threshold: float, max_detections: int
           ) -> list[Prediction]:
    """Peaks of the centre heatmap -> boxes in input pixels, scored centre x class."""
    centre = torch.sigmoid(heatmap[:, 0])  # (N, H, W)
    probs_all = torch.softmax(classes, dim=1)  # (N, C, H, W)
    top, label = probs_all.max(dim=1)  # (N, H, W)
    peaks = centre * (F.max_pool2d(centre[:, None], 3, 1, 1)[:, 0] == centre) * top
    n, c, h, w = probs_all.shape
    k = min(max_detections, h * w)
    scores, idx = peaks.view(n, -1).topk(k)  # (N, K)
    out = []
    for i in range(n):
        keep = scores[i] >= score_threshold
        cells = idx[i][keep]
        cy, cx = (cells // w).float(), (cells % w).float()
        r = regress[i].view(4, -1)[:, cells]  # (4, K')
        px, py = (cx + r[2]) * STRIDE, (cy + r[3]) * STRIDE
        bw, bh = r[0].clamp(min=0) * STRIDE, r[1].clamp(min=0) * STRIDE
        boxes = torch.stack([px - bw / 2, py - bh / 2, px + bw / 2, py + bh / 2], dim=1)
        probs = probs_all[i].view(c, -1)[:, cells].T  # (K', C)
        out.append(Prediction(
            boxes=boxes.float().cpu().numpy(),
            labels=label[i].view(-1)[cells].long().cpu().numpy(),
            scores=scores[i][keep].float().cpu().numpy(), probs=probs.float().cpu().numpy(),
            embedding=embedding[i].float().cpu().numpy()))
    return out
