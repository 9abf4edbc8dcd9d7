"""torchvision's detectors behind the :class:`~al_core.training.detector.Detector` interface.

Five architectures (:data:`TORCHVISION_ARCHS`), built with ``weights=None,
weights_backbone=None``: nothing is ever downloaded. Pretrained weights come from a file or
from torchvision's COCO checkpoint when it already sits in the torch hub cache, loaded
shape-aware (:mod:`al_core.training.pretrained_weights`): the class-count-dependent head
layers are skipped and train from scratch. ``fasterrcnn_mobilenet_v2_fpn``
(:mod:`al_core.training.mobilenet_fpn`) has no COCO checkpoint: its trunk loads
torchvision's ImageNet MobileNetV2 file from the torch cache, verified by its pinned
SHA-256 (:mod:`al_core.training.backbone_weights`).
Inputs ``(N, 3, S, S)`` in ``[0, 1]`` with ``S = image_size``: the transform has
``min_size = max_size = S`` (SSD: ``fixed_size = (S, S)``), so it never resizes; it keeps
torchvision's normalisation for the arch.

Label mapping, the same for every arch: torchvision's class 0 is background (Faster R-CNN,
SSD) or an unused column (RetinaNet, FCOS, as in torchvision's COCO checkpoints), so the
model has ``num_classes + 1`` classes and our class ``k`` is its ``k + 1``.

Probabilities: torchvision's postprocessing keeps one score per (box, class). The
subclasses below mirror it but keep each detection's row of class scores over the
foreground classes, renormalised to sum 1: the softmax row (Faster R-CNN, SSD), the sigmoid
row (RetinaNet), the ``sqrt(sigmoid(class) * sigmoid(centerness))`` row (FCOS, its own
score). One detection per candidate (proposal / anchor / location), labelled with the row's
argmax (torchvision may emit several classes per candidate, breaking argmax == label).
Embedding: the global average of the backbone's deepest (lowest-resolution) output map.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import detection as tvd
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import boxes as box_ops

from al_core.training import backbone_weights, mobilenet_fpn
from al_core.training.detector import Prediction
from al_core.training.pretrained_weights import WeightsReport, load_matching_weights

log = logging.getLogger(__name__)

_COCO_WEIGHTS = {  # arch -> (builder, torchvision's COCO weights enum; its url names the file)
    "fasterrcnn_mobilenet_v3_large_fpn": (tvd.fasterrcnn_mobilenet_v3_large_fpn,
                                          tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1),
    "retinanet_resnet50_fpn": (tvd.retinanet_resnet50_fpn,
                               tvd.RetinaNet_ResNet50_FPN_Weights.COCO_V1),
    "fcos_resnet50_fpn": (tvd.fcos_resnet50_fpn, tvd.FCOS_ResNet50_FPN_Weights.COCO_V1),
    "ssdlite320_mobilenet_v3_large": (tvd.ssdlite320_mobilenet_v3_large,
                                      tvd.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1),
}
TORCHVISION_ARCHS: tuple[str, ...] = (*_COCO_WEIGHTS, mobilenet_fpn.ARCH)


def to_model_labels(labels: Tensor) -> Tensor:
    """Our class indices ``0 .. C-1`` -> torchvision's ``1 .. C`` (0 is background)."""
    return labels + 1


def from_model_labels(labels: Tensor) -> Tensor:
    """torchvision's class indices ``1 .. C`` -> ours ``0 .. C-1``."""
    return labels - 1


# ---------------------------------------------------------------- postprocessing with probs

def _select_detections(boxes: Tensor, log_scores: Tensor, image_shape: tuple[int, int], *,
                       score_thresh: float, nms_thresh: float, max_detections: int
                       ) -> dict[str, Tensor]:
    """The end of every torchvision ``postprocess_detections``, one detection per candidate.

    boxes (A, 4) xyxy, or (A, C, 4) one box per class (Faster R-CNN); log_scores (A, C) the
    log of the model's per-class score over the C foreground classes. Returns ``boxes``
    (K, 4), ``scores`` (K,) best first, ``labels`` (K,) in torchvision's numbering and
    ``probs`` (K, C): the candidate's scores renormalised, argmax == label.
    """
    probs = torch.softmax(log_scores, dim=1)                          # (A, C)
    labels = probs.argmax(dim=1)                                      # (A,)
    scores = log_scores.gather(1, labels[:, None]).squeeze(1).exp()   # (A,)
    if boxes.dim() == 3:
        boxes = boxes[torch.arange(boxes.shape[0], device=boxes.device), labels]  # (A, 4)
    keep = torch.where(scores >= score_thresh)[0]
    boxes = box_ops.clip_boxes_to_image(boxes[keep], image_shape)     # (A', 4)
    large = box_ops.remove_small_boxes(boxes, min_size=1e-2)
    keep, boxes = keep[large], boxes[large]
    order = box_ops.batched_nms(boxes, scores[keep], labels[keep], nms_thresh)[:max_detections]
    keep = keep[order]
    return {"boxes": boxes[order], "scores": scores[keep],
            "labels": to_model_labels(labels[keep]), "probs": probs[keep]}


def _top_candidates(log_scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` candidates with the best class score; log_scores (A, C)."""
    best = log_scores.max(dim=1).values                               # (A,)
    return best.topk(min(k, best.numel())).indices


class _RoIHeadsWithProbs(RoIHeads):
    """Faster R-CNN box head whose eval pass also returns each detection's ``probs``."""

    def forward(self, features, proposals, image_shapes, targets=None):
        if self.training or self.has_mask() or self.has_keypoint():
            return super().forward(features, proposals, image_shapes, targets)
        # mirrors the eval branch of torchvision's RoIHeads.forward (boxes only)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)  # (P, C+1), (P, 4(C+1))
        return self.postprocess_detections_with_probs(
            class_logits, box_regression, proposals, image_shapes), {}

    def postprocess_detections_with_probs(self, class_logits, box_regression, proposals,
                                          image_shapes) -> list[dict[str, Tensor]]:
        # mirrors torchvision's RoIHeads.postprocess_detections
        pred_boxes = self.box_coder.decode(box_regression, proposals)[:, 1:]  # (P, C, 4)
        log_scores = F.log_softmax(class_logits, dim=-1)[:, 1:]             # (P, C)
        per_image = [len(p) for p in proposals]
        return [_select_detections(boxes, logs, shape, score_thresh=self.score_thresh,
                                   nms_thresh=self.nms_thresh,
                                   max_detections=self.detections_per_img)
                for boxes, logs, shape in zip(pred_boxes.split(per_image),
                                              log_scores.split(per_image), image_shapes)]


def _dense_detections(model: RetinaNet | FCOS, head_outputs: dict[str, list[Tensor]],
                      anchors: list[list[Tensor]], image_shapes: list[tuple[int, int]],
                      log_scores_of: Callable[[dict[str, Tensor]], Tensor],
                      decode: Callable[[Tensor, Tensor], Tensor]) -> list[dict[str, Tensor]]:
    """Per image and level: best ``topk_candidates`` anchors, decoded; then one selection.

    head_outputs[name][level] is (N, A_l, ...); log_scores_of maps one image's level
    outputs ``{name: (A_l, ...)}`` to (A_l, C) foreground log-scores.
    """
    detections = []
    for i, image_shape in enumerate(image_shapes):
        boxes, logs = [], []
        for level, anchors_l in enumerate(anchors[i]):
            outputs = {name: values[level][i] for name, values in head_outputs.items()}
            log_scores = log_scores_of(outputs)                        # (A_l, C)
            top = _top_candidates(log_scores, model.topk_candidates)
            boxes.append(decode(outputs["bbox_regression"][top], anchors_l[top]))
            logs.append(log_scores[top])
        detections.append(_select_detections(
            torch.cat(boxes), torch.cat(logs), image_shape, score_thresh=model.score_thresh,
            nms_thresh=model.nms_thresh, max_detections=model.detections_per_img))
    return detections


class _RetinaNetWithProbs(RetinaNet):
    def postprocess_detections(self, head_outputs, anchors, image_shapes):
        # mirrors torchvision's RetinaNet.postprocess_detections; score = sigmoid(logit)
        return _dense_detections(
            self, head_outputs, anchors, image_shapes,
            lambda out: F.logsigmoid(out["cls_logits"])[:, 1:],
            self.box_coder.decode_single)


class _FCOSWithProbs(FCOS):
    def postprocess_detections(self, head_outputs, anchors, image_shapes):
        # mirrors torchvision's FCOS.postprocess_detections;
        # score = sqrt(sigmoid(logit) * sigmoid(centerness)), in log space
        return _dense_detections(
            self, head_outputs, anchors, image_shapes,
            lambda out: 0.5 * (F.logsigmoid(out["cls_logits"])[:, 1:]
                               + F.logsigmoid(out["bbox_ctrness"])),
            self.box_coder.decode)


class _SSDWithProbs(SSD):
    def postprocess_detections(self, head_outputs, image_anchors, image_shapes):
        # mirrors torchvision's SSD.postprocess_detections; score = softmax over C+1
        log_scores = F.log_softmax(head_outputs["cls_logits"], dim=-1)[..., 1:]  # (N, A, C)
        detections = []
        for regression, logs, anchors, image_shape in zip(
                head_outputs["bbox_regression"], log_scores, image_anchors, image_shapes):
            top = _top_candidates(logs, self.topk_candidates)
            boxes = self.box_coder.decode_single(regression[top], anchors[top])  # (A', 4)
            detections.append(_select_detections(
                boxes, logs[top], image_shape, score_thresh=self.score_thresh,
                nms_thresh=self.nms_thresh, max_detections=self.detections_per_img))
        return detections


def _keep_probs(model: nn.Module) -> None:
    """Re-class this instance (or its RoI heads) as the subclass above: no torchvision
    global is patched and the state_dict keys stay torchvision's."""
    if hasattr(model, "roi_heads"):
        model.roi_heads.__class__ = _RoIHeadsWithProbs
        return
    for base, subclass in ((RetinaNet, _RetinaNetWithProbs), (FCOS, _FCOSWithProbs),
                           (SSD, _SSDWithProbs)):
        if type(model) is base:
            model.__class__ = subclass
            return
    raise TypeError(f"no probs-keeping postprocess for {type(model).__name__}")


def _pool_deepest(features: Tensor | dict[str, Tensor]) -> Tensor:
    """Backbone output -> (N, D): the mean over H, W of its last (deepest) map."""
    if isinstance(features, dict):
        features = list(features.values())[-1]
    return features.mean(dim=(2, 3))                                  # (N, D)


# ---------------------------------------------------------------------------- the detector

class TorchvisionDetector(nn.Module):
    """A torchvision detector (``self.model``) with our labels, ``probs`` and embeddings.

    ``weights_report`` says which pretrained tensors were loaded (``None``: from scratch);
    ``weights_hint`` is the one line to show when pretrained weights were expected but
    missing (``None`` otherwise).
    """

    def __init__(self, model: nn.Module, *, arch: str, num_classes: int, image_size: int):
        super().__init__()
        self.model = model
        self.arch = arch
        self.num_classes = num_classes
        self.image_size = image_size
        self.weights_report: WeightsReport | None = None
        self.weights_hint: str | None = None

    def _check_images(self, images: Tensor) -> None:
        expected = (3, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be (N, {', '.join(map(str, expected))}), "
                             f"got {tuple(images.shape)}")

    def _model_target(self, index: int, target: dict[str, Tensor]) -> dict[str, Tensor]:
        boxes = target["boxes"].to(torch.float32).reshape(-1, 4)     # (M, 4)
        labels = target["labels"].to(torch.int64).reshape(-1)         # (M,)
        if len(labels) != len(boxes):
            raise ValueError(f"target {index}: {len(boxes)} boxes but {len(labels)} labels")
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if len(bad):
            raise ValueError(f"target {index}: label {int(bad[0])} outside "
                             f"0..{self.num_classes - 1}")
        return {"boxes": boxes, "labels": to_model_labels(labels)}

    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """torchvision's loss dict for a batch; call in train mode.

        images (N, 3, S, S) in [0, 1]; ``targets[i]``: ``boxes`` (M, 4) float xyxy pixels
        (M may be 0) and ``labels`` (M,) int64 in ``0 .. C-1``.
        """
        self._check_images(images)
        if not self.training:
            raise RuntimeError("losses() needs train mode: call .train() first")
        if len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        model_targets = [self._model_target(i, t) for i, t in enumerate(targets)]
        return self.model(list(images), model_targets)

    @torch.inference_mode()
    def predict(self, images: Tensor, *, score_threshold: float = 0.05,
                max_detections: int = 100) -> list[Prediction]:
        """One :class:`Prediction` per image; call in eval mode.

        images (N, 3, S, S) in [0, 1]. Boxes are xyxy pixels of that input; at most
        ``max_detections`` per image, scores >= ``score_threshold``, best first. Both are
        written to the torchvision module's own ``score_thresh`` / ``detections_per_img``.
        """
        self._check_images(images)
        if self.training:
            raise RuntimeError("predict() needs eval mode: call .eval() first")
        if max_detections < 0:
            raise ValueError(f"max_detections must be >= 0, got {max_detections}")
        thresholds = getattr(self.model, "roi_heads", self.model)  # who postprocesses
        thresholds.score_thresh = float(score_threshold)
        thresholds.detections_per_img = int(max_detections)
        pooled: list[Tensor] = []
        hook = self.model.backbone.register_forward_hook(
            lambda _module, _inputs, output: pooled.append(_pool_deepest(output)))
        try:
            detections = self.model(list(images))
        finally:
            hook.remove()
        embeddings = pooled[-1].float().cpu().numpy()                 # (N, D)
        return [Prediction(
            boxes=d["boxes"].float().cpu().numpy(),                   # (K, 4)
            labels=from_model_labels(d["labels"]).cpu().numpy().astype(np.int64),  # (K,)
            scores=d["scores"].float().cpu().numpy(),                 # (K,)
            probs=d["probs"].float().cpu().numpy(),                   # (K, C)
            embedding=embedding)                                      # (D,)
            for d, embedding in zip(detections, embeddings)]


def _check_arch(arch: str) -> None:
    if arch not in TORCHVISION_ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(TORCHVISION_ARCHS)}")


def coco_cache_path(arch: str) -> Path:
    """Where torchvision caches ``arch``'s COCO checkpoint (``<hub dir>/checkpoints/...``).

    Reads the weights enum's url; downloads nothing. ValueError for an arch without one.
    """
    _check_arch(arch)
    if arch not in _COCO_WEIGHTS:
        raise ValueError(f"{arch} has no COCO checkpoint (its backbone is ImageNet's)")
    url = _COCO_WEIGHTS[arch][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def build_torchvision_detector(arch: str, num_classes: int, *, image_size: int,
                               weights_path: str | Path | None = None,
                               use_torch_cache: bool = True) -> TorchvisionDetector:
    """A torchvision ``arch`` for ``num_classes`` classes on ``image_size`` square inputs.

    Weights: ``weights_path`` when given (FileNotFoundError / ValueError when missing or not
    a checkpoint); else torchvision's COCO checkpoint if ``use_torch_cache`` and it is in the
    torch hub cache (:func:`coco_cache_path`); else from scratch. Loading is shape-aware
    (:func:`load_matching_weights`); the report is ``detector.weights_report``.
    ``fasterrcnn_mobilenet_v2_fpn``: see :func:`_build_mobilenet_v2_fpn`. The module is
    returned in train mode.
    """
    _check_arch(arch)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32, got {image_size}")
    if arch == mobilenet_fpn.ARCH:
        return _build_mobilenet_v2_fpn(num_classes, image_size=image_size,
                                       weights_path=weights_path,
                                       use_torch_cache=use_torch_cache)
    builder = _COCO_WEIGHTS[arch][0]
    options = {"weights": None, "weights_backbone": None, "num_classes": num_classes + 1}
    if arch.startswith("ssd"):
        model = builder(**options)
        # SSD's size is fixed at 320 by the builder: resize to S instead, i.e. not at all
        model.transform = GeneralizedRCNNTransform(
            image_size, image_size, model.transform.image_mean, model.transform.image_std,
            size_divisible=1, fixed_size=(image_size, image_size))
    else:
        model = builder(**options, min_size=image_size, max_size=image_size)
    _keep_probs(model)
    detector = TorchvisionDetector(model, arch=arch, num_classes=num_classes,
                                   image_size=image_size)
    if weights_path is not None:
        detector.weights_report = load_matching_weights(model, weights_path)
    elif use_torch_cache:
        cached = coco_cache_path(arch)
        if cached.is_file():
            detector.weights_report = load_matching_weights(model, cached)
        else:
            log.info("no cached COCO weights at %s: %s starts from scratch", cached, arch)
    return detector


def _build_mobilenet_v2_fpn(num_classes: int, *, image_size: int,
                            weights_path: str | Path | None,
                            use_torch_cache: bool) -> TorchvisionDetector:
    """The MobileNetV2 FPN detector. With ``use_torch_cache``, its trunk starts from
    torchvision's ImageNet file in the torch cache when that is there and verified
    (:func:`backbone_weights.installed_path`: a file that is not the pinned one is refused
    by name); when it is absent, everything trains from scratch and ``weights_hint`` says
    so. ``weights_path`` (a checkpoint of this arch, say) is then loaded over it,
    shape-aware. Nothing is downloaded either way."""
    trunk = backbone_weights.installed_path() if use_torch_cache else None
    model, report = mobilenet_fpn.build_fasterrcnn_mobilenet_v2_fpn(
        num_classes + 1, image_size=image_size, trunk_weights=trunk)
    _keep_probs(model)
    detector = TorchvisionDetector(model, arch=mobilenet_fpn.ARCH, num_classes=num_classes,
                                   image_size=image_size)
    detector.weights_report = report
    if use_torch_cache and trunk is None:
        detector.weights_hint = backbone_weights.missing_hint()
    if weights_path is not None:
        detector.weights_report = load_matching_weights(model, weights_path)
    return detector
