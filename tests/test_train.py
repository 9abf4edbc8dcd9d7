import json

import numpy as np
import pytest
import torch

from al_core.data import load_split
from al_core.demo import label_from_oracle_at_random
from al_core.models.compact import CompactCenterNet
from al_core.registry import _atomic_save, create_candidate, load_checkpoint
from al_core.split import split_project
from al_core.train import SplitData, TrainConfig, merge_config, train_loop, val_map


def test_merge_applies_the_override_and_names_unknown_keys():
    cfg = merge_config(TrainConfig(), {"epochs": 5, "augment": ["hflip"], "lr": 0.01})
    assert (cfg.epochs, cfg.augment, cfg.lr, cfg.width) == (5, ("hflip",), 0.01, 16)
    with pytest.raises(ValueError, match="unknown config key.*colour.*epochz"):
        merge_config(TrainConfig(), {"epochz": 1, "colour": 2})
    for bad, message in [({"epochs": 0}, "epochs: 0"), ({"lr": "fast"}, "lr: 'fast'"),
                         ({"augment": ["blur"]}, "augment: unknown 'blur'"),
                         ({"device": "tpu"}, "device: 'tpu'"), ({"augment": "color"}, "augment")]:
        with pytest.raises(ValueError, match=message):
            merge_config(TrainConfig(), bad)


@pytest.mark.slow
def test_a_tiny_model_overfits_four_images(demo_store):
    torch.manual_seed(0)
    index = {c.id: k for k, c in enumerate(demo_store.classes())}
    data = load_split(demo_store, "test", image_size=160, class_index=index)
    four = SplitData(data.images[:4], data.targets[:4])
    model = CompactCenterNet(10, width=8)
    config = TrainConfig(width=8, epochs=150, batch_size=4, lr=1e-2, augment=())
    result = train_loop(model, four, four, config)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0] / 5
    model.load_state_dict(result.state_dict)
    assert val_map(model, four, device=torch.device("cpu")) > 0.9  # the boxes are found


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
