"""Checkpoints: atomic writes; loads refuse a wrong backbone, wrong tensors, pickles and corrupt files."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from analysis.errors import HyperLensError
from analysis.model.backbone import load_backbone
from analysis.model.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from analysis.model.hyperlens import HyperLensModel


@pytest.fixture
def ckpt(tmp_path):
    model = HyperLensModel.build(load_backbone("tiny-t5"), "hyperdecoder", ["a", "b"],
                                 {"encoder_adapter_dim": 4, "decoder_adapter_dim": 4, "generator_hidden": 8})
    return save_checkpoint(model, tmp_path / "ckpt", metrics={"average": 1.0}), model


def test_config_records_everything_needed(ckpt):
    path, model = ckpt
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["method"] == "hyperdecoder" and cfg["tasks"] == ["a", "b"] and cfg["adapts_per"] == "input"
    assert cfg["backbone"]["name"] == "tiny-t5" and len(cfg["backbone"]["config_hash"]) == 16
    assert {"torch", "transformers", "safetensors", "hyperlens", "python"} <= set(cfg["versions"])
    assert cfg["machine"]["cpu"] and cfg["machine"]["threads"] >= 1  # a rebuild elsewhere is another run
    cfg["machine"] = "edited by hand"  # informational: it never stops a checkpoint from loading
    (path / "config.json").write_text(json.dumps(cfg))
    assert read_config(path)["machine"] == "edited by hand"
    assert cfg["method_config"]["decoder_adapter_dim"] == 4 and cfg["metrics"] == {"average": 1.0}
    assert set(load_file(str(path / "adapter_model.safetensors"))) == set(model.trainable_state_dict())
    mode = lambda name: (path / name).stat().st_mode & 0o777  # noqa: E731
    assert mode("adapter_model.safetensors") == mode("config.json")  # the umask's, not safetensors' private 0600


def test_trainable_weights_only(ckpt):
    path, model = ckpt
    saved = load_file(str(path / "adapter_model.safetensors"))
    assert all(k.startswith("method.") for k in saved)
    assert sum(t.numel() for t in saved.values()) < sum(p.numel() for p in model.parameters()) / 2


def test_failed_write_leaves_the_old_checkpoint_intact(ckpt, monkeypatch):
    path, model = ckpt
    before = (path / "adapter_model.safetensors").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr("analysis.model.checkpoint.save", boom)
    with pytest.raises(OSError):
        save_checkpoint(model, path, overwrite=True)
    assert (path / "adapter_model.safetensors").read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt"]  # no temporary debris


def test_backbone_mismatch_is_refused(ckpt):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match="trained on backbone 'tiny-t5'"):
        load_checkpoint(path, backbone=load_backbone("tiny-bart"))
    with pytest.raises(CheckpointError, match="hash"):
        load_checkpoint(path, backbone=load_backbone("tiny-t5", seed=7))  # other random weights


def test_missing_and_unexpected_tensors_are_refused(ckpt):
    path, _ = ckpt
    file = path / "adapter_model.safetensors"
    tensors = load_file(str(file))
    dropped = sorted(tensors)[0]
    tensors.pop(dropped)
    tensors["method.extra.weight"] = torch.zeros(2)
    save_file(tensors, str(file))
    with pytest.raises(CheckpointError, match="missing tensors") as e:
        load_checkpoint(path)
    assert dropped in str(e.value) and "method.extra.weight" in str(e.value)


def test_shape_mismatch_is_refused(ckpt):
    path, _ = ckpt
    file = path / "adapter_model.safetensors"
    tensors = load_file(str(file))
    name = sorted(tensors)[0]
    tensors[name] = torch.zeros(3, 3, 3)
    save_file(tensors, str(file))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(path)


def test_pickles_are_refused(ckpt):
    path, model = ckpt
    torch.save(model.trainable_state_dict(), path / "adapter_model.safetensors")  # a pickle under our name
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    (path / "adapter_model.safetensors").unlink()
    (path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)


def test_a_safetensors_header_length_that_starts_like_a_pickle_still_loads(ckpt):
    """The first byte of a safetensors file is its header length's low byte; 0x80 there is not a pickle."""
    path, _ = ckpt
    file = path / "adapter_model.safetensors"
    data = file.read_bytes()
    n = int.from_bytes(data[:8], "little")
    padded = n + (0x80 - n) % 256  # the format allows trailing spaces in the JSON header
    file.write_bytes(padded.to_bytes(8, "little") + data[8:8 + n] + b" " * (padded - n) + data[8 + n:])
    assert file.read_bytes()[:1] == b"\x80"
    load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights_are_refused(ckpt, damage):
    path, _ = ckpt
    file = path / "adapter_model.safetensors"
    data = file.read_bytes()
    file.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x10" * 64, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_corrupt_or_missing_config_is_refused(ckpt, tmp_path):
    path, _ = ckpt
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_saving_over_a_checkpoint_or_a_file_needs_a_word(ckpt, tmp_path):
    path, model = ckpt
    (path / "MODEL_CARD.md").write_text("keep me")
    with pytest.raises(CheckpointError, match="already exists; pass overwrite=True"):
        save_checkpoint(model, path)
    assert (path / "MODEL_CARD.md").read_text() == "keep me"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(HyperLensError, match="afile is a file"):
        save_checkpoint(model, tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "x" and not list(tmp_path.glob(".afile*"))


def test_a_failed_cleanup_of_the_replaced_checkpoint_does_not_fail_the_save(ckpt, monkeypatch, capsys):
    import analysis.model.checkpoint as C
    path, model = ckpt
    rmtree = C.shutil.rmtree

    def undeletable(p, *a, **k):
        if ".old-" in str(p):
            raise PermissionError(1, "Operation not permitted", str(p))
        return rmtree(p, *a, **k)
    monkeypatch.setattr(C.shutil, "rmtree", undeletable)
    for average in (2.0, 3.0):  # the copy left behind must not stop the next save
        save_checkpoint(model, path, metrics={"average": average}, overwrite=True)
        assert read_config(path)["metrics"] == {"average": average}
        assert "could not remove the replaced copy" in capsys.readouterr().err


def test_the_cards_machine_line_is_one_line_and_leaves_out_what_was_not_recorded():
    from analysis.maps.card import machine_line
    line = machine_line({"machine": {"cpu": "AMD EPYC\n# Injected", "vendor": "AuthenticAMD"}, "training": {}})
    assert "\n#" not in line and "AMD EPYC # Injected, AuthenticAMD, in fp32" in line and "threads" not in line
