import re

import numpy as np
import pytest
import torch

from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.candidates import create_candidate
from al_core.training.checkpoints import atomic_save as _atomic_save, load_checkpoint
from al_core.training.compact import CompactCenterNet
from al_core.training.config import TrainConfig, merge_config
from al_core.training.data import load_split
from al_core.training.loop import SplitData, describe_stop, train_loop, val_map
from al_core.training.split import split_project


def test_the_config_knows_every_architecture_of_the_zoo():
    from al_core.training.config import ARCHS
    from al_core.training.torchvision_zoo import TORCHVISION_ARCHS

    assert ARCHS == ("compact", "compact_mobilenet_v2", *TORCHVISION_ARCHS)


def test_merge_applies_the_override_and_names_unknown_keys():
    cfg = merge_config(TrainConfig(), {"epochs": 5, "augment": ["hflip"], "lr": 0.01})
    assert (cfg.epochs, cfg.augment, cfg.lr, cfg.width) == (5, ("hflip",), 0.01, 16)
    with pytest.raises(ValueError, match="unknown config key.*colour.*epochz"):
        merge_config(TrainConfig(), {"epochz": 1, "colour": 2})
    for bad, message in [({"epochs": 0}, "epochs: 0"), ({"lr": "fast"}, "lr: 'fast'"),
                         ({"augment": ["blur"]}, "augment: unknown 'blur'"),
                         ({"device": "tpu"}, "device: 'tpu'"), ({"augment": "color"}, "augment"),
                         ({"arch": "yolo"}, "arch: unknown 'yolo'")]:
        with pytest.raises(ValueError, match=message):
            merge_config(TrainConfig(), bad)


@pytest.mark.slow
def test_a_tiny_model_overfits_four_images(demo_store):
    torch.manual_seed(0)
    index = {c.id: k for k, c in enumerate(demo_store.classes())}
    data = load_split(demo_store, "test", image_size=160, class_index=index)
    four = SplitData(data.images[:4], data.targets[:4])
    model = CompactCenterNet(10, width=8)
    config = TrainConfig(width=8, epochs=150, batch_size=4, lr=1e-2, augment=(), patience=0)
    result = train_loop(model, four, four, config)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] / 5
    model.load_state_dict(result.state_dict)
    assert val_map(model, four, device=torch.device("cpu")) > 0.9  # the boxes are found


def test_the_detection_cap_keeps_the_best_final_scores():
    """max_detections keeps the best centre x class scores, not the best centres."""
    from al_core.training.compact import decode

    centre = torch.full((1, 1, 8, 8), -9.0)
    centre[0, 0, 1, 1], centre[0, 0, 5, 5] = 3.0, 2.0  # the stronger centre ...
    probs = torch.tensor([[0.4, 0.6], [0.05, 0.95]])  # ... is the less sure class

    (pred,) = decode(centre, torch.ones(1, 4, 8, 8), torch.zeros(1, 3),
                     lambda index, boxes: probs, score_threshold=0.0, max_detections=1)
    sig = torch.sigmoid(torch.tensor([3.0, 2.0]))
    assert pred.scores.tolist() == pytest.approx([float(sig[1] * 0.95)])  # the second peak
    assert pred.labels.tolist() == [1] and len(pred.boxes) == 1


def test_predictions_follow_the_interface():
    model = CompactCenterNet(3, width=4).eval()
    with torch.inference_mode():
        preds = model.predict(torch.rand(2, 3, 64, 64), score_threshold=0.0, max_detections=20)
    assert len(preds) == 2
    for p in preds:
        assert p.boxes.shape == (20, 4) and p.probs.shape == (20, 3) and p.embedding.ndim == 1
        assert np.all(np.diff(p.scores) <= 0)
        assert np.allclose(p.probs.sum(1), 1, atol=1e-5)
        assert np.array_equal(p.probs.argmax(1), p.labels)


def test_candidate_lineage_and_checkpoint_round_trip(demo_store, tmp_path):
    first = create_candidate(demo_store, override={"epochs": 2})
    assert demo_store.model(first)["parent_id"] is None
    demo_store.apply_decision(first, "update_model")
    second = create_candidate(demo_store, override={"lr": 0.001})
    row = demo_store.model(second)
    assert row["parent_id"] == first and row["status"] == "candidate"
    assert row["config"]["epochs"] == 2 and row["config"]["lr"] == 0.001  # cloned + override
    model = CompactCenterNet(10, width=16)
    path = demo_store.models_dir / "model-x.pt"
    digest = _atomic_save({"arch": "compact", "config": TrainConfig().to_dict(),
                           "class_ids": [c.id for c in demo_store.classes()],
                           "state_dict": model.state_dict()}, path)
    demo_store.update_model(second, checkpoint_path="models/model-x.pt", checkpoint_sha256=digest)
    loaded, config, class_ids = load_checkpoint(demo_store, second)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 loaded.state_dict().values()))
    assert class_ids == [c.id for c in demo_store.classes()] and config.arch == "compact"
    assert not list(demo_store.models_dir.glob("*.tmp"))
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ValueError, match="does not match its recorded hash"):
        load_checkpoint(demo_store, second)


def test_training_needs_train_items():
    with pytest.raises(ValueError, match="train split has no labeled items"):
        train_loop(CompactCenterNet(2, width=4), SplitData(torch.zeros(0, 3, 8, 8), []),
                   SplitData(torch.zeros(0, 3, 8, 8), []), TrainConfig())


def test_the_time_budget_ends_training_inside_an_epoch():
    data = SplitData(torch.zeros(64, 3, 32, 32, dtype=torch.uint8),
                     [{"boxes": torch.tensor([[4.0, 4, 20, 20]]), "labels": torch.tensor([0])}] * 64)
    config = TrainConfig(width=4, epochs=5, batch_size=1, time_budget_s=0.3, augment=())
    result = train_loop(CompactCenterNet(1, width=4), data, SplitData(data.images[:0], []), config)
    assert result.epochs_run == 1 and result.history[0]["step"] < 64
    assert result.stop_reason == "time budget" and not result.stopped
    assert describe_stop(result, config).startswith("stopped by the time budget (0.3 s) at "
                                                    "epoch 1/5; kept epoch 1 (no val split)")



def test_a_trained_model_records_why_training_stopped(demo_store):
    from al_core.training.train_job import train_model

    label_from_oracle_at_random(demo_store, 12, seed=0)
    split_project(demo_store, seed=0)
    model_id = create_candidate(demo_store, override={
        "epochs": 3, "width": 4, "batch_size": 8, "image_size": 64, "time_budget_s": 0.01})
    messages: list[tuple[float, str]] = []
    metrics = train_model(demo_store, model_id, progress=lambda f, m: messages.append((f, m)))
    assert metrics["stop_reason"] == "time budget"
    assert demo_store.model(model_id)["metrics"]["stop_reason"] == "time budget"
    fraction, last = messages[-1]
    assert fraction == 1.0 and re.fullmatch(r"stopped by the time budget \(0.01 s\) at epoch "
                                            r"1/3; best epoch 1, val mAP50 \d\.\d{3}", last)


def test_the_same_seed_and_labels_train_the_same_weights(demo_store):
    # the initial weights used to come from whatever state torch's generator was in, so
    # the same round of a simulation trained to 0.41 and 0.30 test mAP50 in two runs
    from al_core.training.train_job import train_model

    label_from_oracle_at_random(demo_store, 12, seed=0)
    split_project(demo_store, seed=0)
    override = {"epochs": 1, "width": 4, "batch_size": 8, "image_size": 64, "seed": 3}
    weights = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # another process, or other work before this one
        model_id = create_candidate(demo_store, override=override)
        train_model(demo_store, model_id)
        weights.append(load_checkpoint(demo_store, model_id)[0].state_dict())
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = create_candidate(demo_store, override={**override, "seed": 4})
    train_model(demo_store, other)
    assert not all(torch.equal(weights[0][k], v)
                   for k, v in load_checkpoint(demo_store, other)[0].state_dict().items())


def _one_box_data(n: int) -> SplitData:
    return SplitData(torch.zeros(n, 3, 32, 32, dtype=torch.uint8),
                     [{"boxes": torch.tensor([[4.0, 4, 20, 20]]), "labels": torch.tensor([0])}] * n)


@pytest.mark.parametrize("patience", [1, 3])
def test_a_val_plateau_anneals_then_stops_and_keeps_the_best_epoch(monkeypatch, patience):
    """val mAP50 that cannot improve after epoch 2: training stops ``patience`` epochs
    later, after a final anneal that takes the learning rate to 0."""
    import al_core.training.loop as train_module

    scores = iter([0.2, 0.5] + [0.5, 0.4] * 10)
    monkeypatch.setattr(train_module, "val_map", lambda *a, **k: next(scores))
    lrs = []
    monkeypatch.setattr(train_module.LRSchedule, "factor", _recording(
        train_module.LRSchedule.factor, lrs))
    data = _one_box_data(8)
    config = TrainConfig(width=4, image_size=32, epochs=20, batch_size=4, augment=(),
                         patience=patience)
    result = train_loop(CompactCenterNet(1, width=4), data, data, config)
    anneal = train_module.final_anneal_epochs(patience)
    assert result.stop_reason == "plateau" and not result.stopped
    assert result.epochs_run == 2 + patience + anneal
    assert (result.best_epoch, result.best_val_map) == (2, 0.5)
    assert [h["val_map50"] for h in result.history][:3] == [0.2, 0.5, 0.5]  # 0.5 again: no gain
    before, annealed = lrs[:-2 * anneal], lrs[-2 * anneal:]  # 2 steps an epoch
    assert all(b < a for a, b in zip(annealed, annealed[1:])) and annealed[-1] == 0
    assert annealed[0] < before[-1] and before == sorted(before)  # still warming up before
    assert describe_stop(result, config) == (
        f"stopped on a val plateau (no better val mAP50 for {patience} epochs, then a "
        f"{anneal}-epoch final anneal) at epoch {result.epochs_run}/20; best epoch 2, "
        "val mAP50 0.500")


def _recording(factor, seen: list):
    def wrapped(self, step, elapsed_s):
        seen.append(factor(self, step, elapsed_s))
        return seen[-1]
    return wrapped


def test_without_patience_or_a_plateau_all_epochs_run(monkeypatch):
    import al_core.training.loop as train_module

    data = _one_box_data(4)
    for patience, scores in [(0, [0.5] * 6), (2, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
                             (2, [0.0] * 5 + [0.1])]:  # nothing found yet is no plateau
        monkeypatch.setattr(train_module, "val_map", lambda *a, s=iter(scores), **k: next(s))
        config = TrainConfig(width=4, image_size=32, epochs=6, batch_size=4, augment=(),
                             patience=patience)
        result = train_loop(CompactCenterNet(1, width=4), data, data, config)
        assert (result.stop_reason, result.epochs_run) == ("epochs", 6)
        assert describe_stop(result, config).startswith("ran all 6 epochs; best epoch")


def test_a_cancel_stops_inside_the_epoch_and_says_so():
    data = _one_box_data(16)
    config = TrainConfig(width=4, image_size=32, epochs=3, batch_size=2, augment=())
    result = train_loop(CompactCenterNet(1, width=4), data, SplitData(data.images[:0], []),
                        config, should_stop=lambda: True)
    assert result.stop_reason == "cancelled" and result.stopped
    assert result.epochs_run == 1 and result.history[0]["step"] == 1


def test_repeat_factors_oversample_images_with_rare_classes():
    from al_core.training.loop import _epoch_order, repeat_factors

    targets = [{"labels": torch.tensor(k)} for k in ([0], [0, 0], [0, 1], [0], [])]
    factors = repeat_factors(targets, 0.5)
    # class 0 is in 4 of 5 images (no repeat), class 1 in 1 of 5: sqrt(0.5 / 0.2)
    assert factors == pytest.approx([1, 1, np.sqrt(2.5), 1, 1])
    assert repeat_factors(targets, 0.0) == pytest.approx(np.ones(5))
    orders = [_epoch_order(factors, np.random.default_rng(s)) for s in range(4000)]
    assert {len(o) for o in orders} == {5}  # an epoch is as long as the train split
    counts = np.bincount(np.concatenate(orders), minlength=5) / 4000
    assert counts == pytest.approx(5 * factors / factors.sum(), abs=0.04)
    assert counts[2] > 1.3 and sorted(_epoch_order(np.ones(5), np.random.default_rng(0))) \
        == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_warm_start_fine_tunes_the_parent_and_says_when_it_cannot(demo_store):
    from al_core.training.train_job import train_model

    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    small = {"epochs": 1, "width": 4, "batch_size": 8, "image_size": 64}
    parent = create_candidate(demo_store, override=small)
    lines: list[str] = []
    train_model(demo_store, parent, log_line=lines.append)
    assert "warm start" not in " ".join(lines)  # off by default
    demo_store.apply_decision(parent, "update_model")

    def convs(model_id):
        model = load_checkpoint(demo_store, model_id)[0]
        return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]

    warm = create_candidate(demo_store, override={"warm_start": True, "lr": 1e-9})
    lines.clear()
    train_model(demo_store, warm, log_line=lines.append)
    assert f"warm start from model #{parent}" in lines
    kept = [torch.allclose(a, b, atol=1e-6) for a, b in zip(convs(parent), convs(warm))]
    assert all(kept)  # a learning rate of ~0 keeps the parent's weights
    cold = create_candidate(demo_store, override={"lr": 1e-9})
    train_model(demo_store, cold)
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(convs(parent), convs(cold)))
    wider = create_candidate(demo_store, override={"warm_start": True, "width": 8})
    lines.clear()
    train_model(demo_store, wider, log_line=lines.append)
    assert any("another architecture or width; training from scratch" in x for x in lines)


def test_a_checkpoint_of_another_architecture_is_refused_by_name(demo_store):
    model_id = create_candidate(demo_store)
    path = demo_store.models_dir / "old.pt"
    digest = _atomic_save({"arch": "compact", "config": TrainConfig().to_dict(),  # width 16
                           "class_ids": [c.id for c in demo_store.classes()],
                           "state_dict": CompactCenterNet(10, width=4).state_dict()}, path)
    demo_store.update_model(model_id, checkpoint_path="models/old.pt", checkpoint_sha256=digest)
    with pytest.raises(ValueError, match=f"checkpoint of model #{model_id} does not fit"):
        load_checkpoint(demo_store, model_id)


def test_targets_and_decoding_agree_on_a_hand_built_object():
    from al_core.training.compact import STRIDE, decode, encode_targets

    box = torch.tensor([[16.0, 8.0, 40.0, 40.0]])  # centre (28, 24) px = cell (7, 6)
    heat, reg, mask = encode_targets([{"boxes": box, "labels": torch.tensor([2])}],
                                     (16, 16), device="cpu")
    assert heat[0, 0, 6, 7] == 1 and mask.sum() == 1 and mask[0, 0, 6, 7] == 1
    assert reg[0, :, 6, 7].tolist() == [6.0, 8.0, 0.0, 0.0]  # w, h in cells; offset
    # a heatmap that says exactly that decodes back to the box; the classifier is asked
    # about that box only, and its probabilities make the label and the score
    centre = torch.full((2, 1, 16, 16), -9.0)  # image 0 holds nothing, image 1 the box
    centre[1, 0, 6, 7] = 3.0
    reg = torch.cat([torch.zeros_like(reg), reg])
    probs = torch.tensor([[0.1, 0.1, 0.7, 0.1]])
    asked = []

    def classify(index, boxes):
        asked.append((index.tolist(), boxes.tolist()))
        return probs

    empty, pred = decode(centre, reg, torch.zeros(2, 5), classify, score_threshold=0.5,
                         max_detections=10)
    assert asked == [([1], [[16.0, 8.0, 40.0, 40.0]])] and STRIDE == 4
    assert empty.boxes.shape == (0, 4) and empty.probs.shape == (0, 4)
    assert pred.boxes.tolist() == [[16.0, 8.0, 40.0, 40.0]]
    assert pred.labels.tolist() == [2]
    assert pred.scores[0] == pytest.approx(float(torch.sigmoid(torch.tensor(3.0)) * 0.7))
    assert pred.probs[0] == pytest.approx(probs[0].numpy())


def test_the_classifier_sees_the_box_and_ignores_contrast():
    """Crops are taken under the box (with a little context) and standardised, so the
    same glyph in another colour or brightness gives the same classifier input."""
    from al_core.training.compact import CROP, crops

    image = torch.zeros(1, 3, 64, 64)
    image[0, :, 20:40, 10:30] = 0.2
    image[0, :, 25:35, 15:25] = 0.9  # a bright square inside a dim one
    box = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    one = torch.zeros(1, dtype=torch.long)
    patch = crops(image, one, box)
    assert patch.shape == (1, 3, CROP, CROP)
    assert patch[0, 0, CROP // 2, CROP // 2] > patch[0, 0, 1, CROP // 2] + 1  # centre bright
    assert torch.allclose(patch, crops(image + 0.3, one, box), atol=1e-4)  # brightness
    assert torch.allclose(patch, crops(image * 0.8, one, box), atol=0.1)  # contrast, nearly
    assert crops(image, one[:0], torch.zeros(0, 4)).shape == (0, 3, CROP, CROP)


def test_folded_inference_matches_the_model_and_follows_new_weights():
    torch.manual_seed(0)
    model = CompactCenterNet(3, width=4)
    images = torch.rand(2, 3, 64, 64)
    target = [{"boxes": torch.tensor([[8.0, 8.0, 30.0, 30.0]]), "labels": torch.tensor([1])}] * 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def step() -> None:
        optimizer.zero_grad()
        sum(model.losses(images, target).values()).backward()
        optimizer.step()

    model.train()
    for _ in range(3):  # move the BatchNorm statistics away from their defaults
        step()
    model.eval()
    with torch.inference_mode():
        before = model.predict(images, score_threshold=0.0, max_detections=5)
        folded = model._folded_net()
        for key, value in model(images).items():  # heatmap, regress, embedding
            assert torch.allclose(folded(images)[key], value, rtol=1e-4, atol=1e-4), key
        patches = torch.rand(7, 3, 12, 12)
        assert torch.allclose(folded.classify(patches), model.classify(patches), rtol=1e-4,
                              atol=1e-4)
        assert folded is not model and model._folded_net() is folded  # cached
    step()  # still in eval mode: only the weights' versions can tell the cache is stale
    with torch.inference_mode():
        after = model.predict(images, score_threshold=0.0, max_detections=5)
        assert model._folded_net() is not folded  # rebuilt for the new weights
        assert torch.allclose(model._folded_net()(images)["heatmap"], model(images)["heatmap"],
                              rtol=1e-4, atol=1e-4)
    assert not np.allclose(before[0].scores, after[0].scores)


def test_the_moving_average_follows_the_weights_with_a_ramped_decay():
    from al_core.training.loop import ModelEMA

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    start = ema.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    d = 0.9 * (1 - np.exp(-1.0))  # the ramp after one update
    assert torch.allclose(ema.model[0].weight, d * start + (1 - d) * model[0].weight)
    assert int(ema.model[1].num_batches_tracked) == 7  # integer buffers are copied
    assert not ema.model[0].weight.requires_grad and not ema.model.training


def test_training_keeps_the_average_not_the_last_weights(demo_store):
    index = {c.id: k for k, c in enumerate(demo_store.classes())}
    data = load_split(demo_store, "test", image_size=64, class_index=index)
    four = SplitData(data.images[:4], data.targets[:4])
    seen = []
    for decay in (0.0, 0.9):
        torch.manual_seed(0)
        model = CompactCenterNet(10, width=4)
        config = TrainConfig(width=4, epochs=2, batch_size=2, lr=1e-2, augment=(),
                             ema_decay=decay)
        result = train_loop(model, four, SplitData(four.images[:0], []), config,
                            on_validated=seen.append)
        raw = model.state_dict()["heatmap.weight"]
        kept = result.state_dict["heatmap.weight"]
        assert torch.equal(kept, raw) == (decay == 0)  # the EMA differs from the raw weights
    assert seen[0] is not seen[-1] and isinstance(seen[-1], CompactCenterNet)
    with pytest.raises(ValueError, match="ema_decay: 1"):
        merge_config(TrainConfig(), {"ema_decay": 1})


def test_torch_threads_follow_the_cpus_this_process_may_use(monkeypatch):
    from al_core.training.loop import use_allowed_cpus

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: {3}, raising=False)
        assert use_allowed_cpus() == 1 and torch.get_num_threads() == 1  # pinned: taskset -c 3
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
        assert use_allowed_cpus() == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
