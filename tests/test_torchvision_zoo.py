"""The torchvision zoo: losses, predictions with probs/embeddings, weights, label mapping."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from al_core.training.detector import Prediction
from al_core.training.torchvision_zoo import (TORCHVISION_ARCHS, TorchvisionDetector,
                                              build_torchvision_detector, coco_cache_path,
                                              from_model_labels, to_model_labels)

SIZE, C = 64, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _build(arch: str, num_classes: int = C, **options) -> TorchvisionDetector:
    torch.manual_seed(0)
    options.setdefault("use_torch_cache", False)
    return build_torchvision_detector(arch, num_classes, image_size=SIZE, **options)


def _batch() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 40.0, 50.0], [30.0, 20.0, 60.0, 44.0]]),
                "labels": torch.tensor([2, 0])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    return images, targets


def _classifier_layers(model: nn.Module) -> list[nn.Module]:
    """The layers producing torchvision's class logits, (A * (C+1)) channels each."""
    if hasattr(model, "roi_heads"):
        return [model.roi_heads.box_predictor.cls_score]
    head = model.head.classification_head
    if hasattr(head, "cls_logits"):
        return [head.cls_logits]
    return [[m for m in block.modules() if isinstance(m, nn.Conv2d)][-1]
            for block in head.module_list]


def _favour(model: nn.Module, model_label: int, num_classes: int = C) -> None:
    """Make every anchor / proposal predict torchvision class ``model_label``."""
    with torch.no_grad():
        for layer in _classifier_layers(model):
            layer.weight.zero_()
            bias = layer.bias.view(-1, num_classes + 1)   # (A, C+1)
            bias.fill_(-5.0)
            bias[:, model_label] = 5.0


def _check_prediction(p: Prediction, *, threshold: float, max_detections: int) -> None:
    k = len(p.scores)
    assert 0 < k <= max_detections
    assert p.boxes.shape == (k, 4) and p.boxes.dtype == np.float32
    assert p.labels.shape == (k,) and p.labels.dtype == np.int64
    assert p.scores.shape == (k,) and p.scores.dtype == np.float32
    assert p.probs.shape == (k, C) and p.probs.dtype == np.float32
    assert p.embedding.ndim == 1 and p.embedding.dtype == np.float32
    assert np.all(np.diff(p.scores) <= 0) and np.all(p.scores >= threshold)
    assert np.all((p.labels >= 0) & (p.labels < C))
    np.testing.assert_allclose(p.probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(p.probs.argmax(axis=1), p.labels)
    assert np.all(p.boxes[:, 2:] >= p.boxes[:, :2])
    assert np.all((p.boxes >= 0) & (p.boxes <= SIZE))
    assert np.all(np.isfinite(p.embedding))


@pytest.mark.parametrize("arch", TORCHVISION_ARCHS)
def test_losses_are_finite_scalars_with_gradients(arch):
    detector = _build(arch).train()
    images, targets = _batch()
    losses = detector.losses(images, targets)
    assert losses
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    sum(losses.values()).backward()
    grads = [p.grad for p in detector.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("arch", TORCHVISION_ARCHS)
def test_predict_contract(arch):
    detector = _build(arch).eval()
    images, _ = _batch()
    predictions = detector.predict(images, score_threshold=0.0, max_detections=20)
    assert len(predictions) == 2
    for p in predictions:
        _check_prediction(p, threshold=0.0, max_detections=20)
    assert predictions[0].embedding.shape == predictions[1].embedding.shape
    batch, _ = detector.model.transform(list(images))   # the letterboxed input is not resized
    assert batch.image_sizes == [(SIZE, SIZE)] * 2
    # a threshold above every score leaves empty, well-shaped predictions
    top = max(float(p.scores[0]) for p in predictions)
    empty = detector.predict(images, score_threshold=top + 1e-3)
    assert all(p.boxes.shape == (0, 4) and p.probs.shape == (0, C) for p in empty)


@pytest.mark.parametrize("arch", TORCHVISION_ARCHS)
def test_label_mapping_round_trips_through_the_head(arch):
    # torchvision class k + 1 favoured in the head -> our class k, for every k
    detector = _build(arch).eval()
    images, targets = _batch()
    for ours in range(C):
        _favour(detector.model, to_model_labels(torch.tensor(ours)).item())
        p = detector.predict(images[:1], score_threshold=0.0, max_detections=10)[0]
        assert len(p.labels) and set(p.labels.tolist()) == {ours}
        assert np.all(p.probs[:, ours] > 0.8)   # FCOS: sqrt(sigmoid) rows, 0.86
    # and through the losses: a target of our class 2 is the cheap one (batch of 2: SSDlite's
    # BatchNorm on its 1x1 last map cannot train on a batch of 1)
    _favour(detector.model, 3)
    detector.train()
    costs = []
    for ours in range(C):
        torch.manual_seed(0)
        one = {"boxes": targets[0]["boxes"][:1], "labels": torch.tensor([ours])}
        costs.append(sum(v.item() for v in detector.losses(images, [one, one]).values()))
    assert costs[2] < min(costs[0], costs[1]) - 0.1, costs


def test_label_mapping_functions():
    ours = torch.tensor([0, 1, 2])
    assert to_model_labels(ours).tolist() == [1, 2, 3]
    assert from_model_labels(to_model_labels(ours)).tolist() == [0, 1, 2]


@pytest.mark.slow
def test_fasterrcnn_learns_the_right_class():
    detector = _build("fasterrcnn_mobilenet_v3_large_fpn").train()
    image = torch.zeros(1, 3, SIZE, SIZE)
    image[:, :, 12:44, 16:52] = 1.0
    target = [{"boxes": torch.tensor([[16.0, 12.0, 52.0, 44.0]]), "labels": torch.tensor([2])}]
    optimizer = torch.optim.SGD(detector.parameters(), lr=0.02, momentum=0.9)
    for _ in range(30):
        optimizer.zero_grad()
        sum(detector.losses(image, target).values()).backward()
        optimizer.step()
    detector.eval()
    p = detector.predict(image, score_threshold=0.0)[0]
    assert p.labels[0] == 2


def test_bad_inputs_are_named():
    detector = _build("ssdlite320_mobilenet_v3_large").train()
    images, targets = _batch()
    with pytest.raises(ValueError, match=r"\(2, 3, 32, 32\)"):
        detector.losses(torch.rand(2, 3, 32, 32), targets)
    bad = [{"boxes": torch.tensor([[1.0, 1.0, 9.0, 9.0]]), "labels": torch.tensor([3])}, targets[1]]
    with pytest.raises(ValueError, match="label 3"):
        detector.losses(images, bad)
    with pytest.raises(RuntimeError, match="eval mode"):
        detector.predict(images)
    with pytest.raises(ValueError, match="'yolo'"):
        build_torchvision_detector("yolo", C, image_size=SIZE)


# ------------------------------------------------------------------------------- weights

ARCH = "ssdlite320_mobilenet_v3_large"   # the fastest to build


def _assert_loaded_backbone(second: TorchvisionDetector, saved: dict[str, torch.Tensor]):
    report = second.weights_report
    assert report is not None
    own = second.model.state_dict()
    backbone = [k for k in saved if k.startswith("backbone.") and k.endswith("weight")]
    assert backbone and set(backbone) <= set(report.loaded)
    for key in backbone:
        assert torch.equal(own[key], saved[key]), key
    # class-count-dependent head layers: other shapes, skipped and left as built
    heads = [k for k in saved if k in own and own[k].shape != saved[k].shape]
    assert heads and set(heads) <= {k.removeprefix("model.") for k in report.skipped}
    assert not set(heads) & set(report.loaded)


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "detector"])
def test_weights_load_by_name_and_shape(tmp_path, wrap):
    first = _build(ARCH)
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    path = tmp_path / "weights.pt"
    if wrap == "detector":   # our wrapper's own state_dict, keys prefixed "model."
        torch.save(first.state_dict(), path)
    else:
        torch.save(saved if wrap == "plain" else {wrap: saved, "epoch": 3}, path)
    second = _build(ARCH, num_classes=5, weights_path=path)
    assert second.weights_report.path == path
    _assert_loaded_backbone(second, saved)


def test_fasterrcnn_weights_skip_the_box_predictor(tmp_path):
    first = _build("fasterrcnn_mobilenet_v3_large_fpn")
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    torch.save({"model": saved}, tmp_path / "frcnn.pth")
    second = _build("fasterrcnn_mobilenet_v3_large_fpn", num_classes=5,
                    weights_path=str(tmp_path / "frcnn.pth"))
    _assert_loaded_backbone(second, saved)
    skipped = set(second.weights_report.skipped)
    assert {"roi_heads.box_predictor.cls_score.weight",
            "roi_heads.box_predictor.bbox_pred.weight"} <= skipped
    assert "rpn.head.conv.0.0.weight" in second.weights_report.loaded


def test_missing_or_bad_weights_files_are_named(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        _build(ARCH, weights_path=missing)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(ValueError, match="notes.txt"):
        _build(ARCH, weights_path=text)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt"):
        _build(ARCH, weights_path=tmp_path / "list.pt")


def test_coco_checkpoint_is_found_in_the_torch_hub_cache(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "ssdlite320_mobilenet_v3_large_coco-a79551df.pth"
    assert coco_cache_path(ARCH) == expected
    with caplog.at_level(logging.INFO, logger="al_core.training.torchvision_zoo"):
        assert _build(ARCH, use_torch_cache=True).weights_report is None   # absent: scratch
    assert "starts from scratch" in caplog.text

    first = _build(ARCH, num_classes=90)      # COCO's 91 with background
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    expected.parent.mkdir()
    torch.save(saved, expected)
    second = _build(ARCH, use_torch_cache=True)
    assert second.weights_report.path == expected
    _assert_loaded_backbone(second, saved)
    assert _build(ARCH, use_torch_cache=False).weights_report is None


def test_every_coco_arch_has_a_cache_file_name(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    coco = [arch for arch in TORCHVISION_ARCHS if arch != "fasterrcnn_mobilenet_v2_fpn"]
    names = {coco_cache_path(arch).name for arch in coco}
    assert len(names) == len(coco) == 4
    assert all(name.endswith(".pth") for name in names)
    with pytest.raises(ValueError, match="fasterrcnn_mobilenet_v2_fpn has no COCO checkpoint"):
        coco_cache_path("fasterrcnn_mobilenet_v2_fpn")   # ImageNet trunk: backbone_weights


def test_retinanet_v1_head_names_are_converted(tmp_path):
    # torchvision's COCO RetinaNet checkpoint predates the v2 head: conv.{2i} -> conv.{i}.0
    first = _build("retinanet_resnet50_fpn")
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    v1 = {k.replace(".conv.1.0.", ".conv.2.").replace(".conv.0.0.", ".conv.0."): v
          for k, v in saved.items()}
    assert "head.regression_head.conv.2.weight" in v1
    torch.save(v1, tmp_path / "retinanet_v1.pth")
    second = _build("retinanet_resnet50_fpn", weights_path=tmp_path / "retinanet_v1.pth")
    own = second.model.state_dict()
    for key in ("head.regression_head.conv.1.0.weight", "head.classification_head.conv.0.0.bias"):
        assert key in second.weights_report.loaded and torch.equal(own[key], saved[key])
