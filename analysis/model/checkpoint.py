"""Checkpoints: a directory with `config.json` and `adapter_model.safetensors` (trainable weights only).

Writes are atomic (a temporary directory renamed into place). Loads accept safetensors + JSON only and
refuse, with a clear message, a different backbone, missing or unexpected tensors, pickles and corrupt files.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from analysis import __version__
from analysis.errors import CheckpointError, HyperLensError  # noqa: F401 (CheckpointError re-exported)
from analysis.layout import CONFIG, WEIGHTS

from .backbone import Backbone, load_backbone
from .hyperlens import HyperLensModel

FORMAT, FORMAT_VERSION = "hyperlens-checkpoint", 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def library_versions() -> dict[str, str]:
    import safetensors
    import transformers
    return {"hyperlens": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def machine() -> dict:
    """What a run trained on, for the record: a rebuild elsewhere is another run of the recipe ("auto" precision
    follows the hardware's bf16 support; torch draws CPU dropout masks with MKL's generator on Intel CPUs only).
    Informational: nothing here may stop a save."""
    info = {"cpu": platform.machine(), "threads": torch.get_num_threads()}
    first: dict[str, str] = {}  # the first processor's fields
    with contextlib.suppress(OSError, UnicodeDecodeError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            first.setdefault(key.strip(), value.strip())
    info["cpu"] = first.get("model name") or info["cpu"]
    if first.get("vendor_id"):
        info["vendor"] = first["vendor_id"]
    try:
        info["bf16"] = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001 (a private torch helper gone, a driver error: the record is only a record)
        pass
    return info


def save_tensors(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """safetensors' save_file creates a private file; written as bytes, it gets the umask's mode as config.json does."""
    Path(path).write_bytes(save(tensors, metadata=metadata))


def atomic_directory(path: Path, write) -> None:
    """Call write(tmp_dir), then swap tmp_dir into `path`; on failure the old directory is untouched."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HyperLensError(f"{path} is a file; a checkpoint is a folder: choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a checkpoint is an ordinary shared directory
    try:
        write(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{time.monotonic_ns()}")  # one left behind stays
            os.replace(path, old)
            os.replace(tmp, path)
            try:  # the new one is in place: a failed cleanup of the old must not fail the save
                shutil.rmtree(old)
            except OSError as e:
                print(f"warning: saved {path}, but could not remove the replaced copy {old} ({e}); delete it by hand",
                      file=sys.stderr)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recover_leftovers(path: Path) -> None:
    """Undo what a kill during `atomic_directory` left: a `.NAME.old-PID` copy goes back into place when NAME is
    missing (the kill fell between the two renames), and half-written `.NAME.tmp-*` directories go.
    Call it only while no other process writes `path` (training holds a lock)."""
    path = Path(path)
    olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not path.exists():
        os.replace(olds.pop(), path)
    for leftover in [*olds, *path.parent.glob(f".{path.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def checkpoint_config(model: HyperLensModel, **sections) -> dict:
    bb = model.spec
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "method": model.method.name, "method_config": model.method.config_dict(),
        "adapts_per": model.method.adapts_per,  # read by tools that do not import torch (the explorer's tables)
        "backbone": {"name": bb.name, "family": bb.family.name, "config_hash": bb.config_hash, "seed": bb.seed,
                     "warm_start": bb.warm_start, "d_model": bb.d_model, "n_layers": bb.n_layers},
        "tasks": model.tasks, "task_specs": model.task_specs, "target_lengths": model.target_lengths,
        "versions": library_versions(), "machine": machine(), **sections,
    }


def save_checkpoint(model: HyperLensModel, path, *, extra_files: dict[str, str] | None = None,
                    dtype: torch.dtype | None = None, overwrite: bool = False, **sections) -> Path:
    """Save trainable weights + config atomically. `sections` (training, metrics, ...) go into config.json.
    `dtype` (torch.float16 for shipped checkpoints) stores floating weights smaller; loading casts them back.
    A folder already at `path` is replaced only with `overwrite` (its extraction, metrics and card go with it)."""
    if not overwrite and Path(path).is_dir() and any(Path(path).iterdir()):
        raise CheckpointError(f"{path} already exists; pass overwrite=True to replace it (its extraction, metrics and "
                              "card go too), or choose another path")
    config = checkpoint_config(model, **sections, weights_dtype=str(dtype or torch.float32).removeprefix("torch."))
    tensors = {k: (v.to(dtype) if dtype and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.trainable_state_dict().items()}

    def write(tmp: Path):
        save_tensors(tensors, tmp / WEIGHTS, metadata={"format": FORMAT})
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
    atomic_directory(Path(path), write)
    return Path(path)


def read_config(path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint directory (expected {CONFIG} and {WEIGHTS} inside)")
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(f"{path} holds pickle file(s) {pickles}: HyperLens loads only safetensors + JSON, "
                              "because unpickling can run arbitrary code. Convert the weights to safetensors.")
    cfg_file = path / CONFIG
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} has no {CONFIG}")
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg_file} is not valid JSON ({e}); the checkpoint is corrupt") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else f"a JSON {type(config).__name__}"
        raise CheckpointError(f"{cfg_file} is not a HyperLens checkpoint config (format {found!r})")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{cfg_file}: format_version must be a whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer HyperLens (format {version})")
    backbone = config.get("backbone")
    problems = [key for key in ("method", "method_config", "backbone", "tasks") if key not in config]
    problems += [f"{key} as an object" for key in ("method_config", "training", "versions")
                 if config.get(key) is not None and not isinstance(config[key], dict)]
    if not isinstance(backbone, dict) or not all(isinstance(backbone.get(k), str) for k in ("name", "config_hash")):
        problems.append("backbone name and config_hash")
    elif not isinstance(backbone.get("seed", 0), int) or isinstance(backbone.get("seed"), bool):
        problems.append("backbone seed as a whole number")
    tasks = config.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        problems.append("a non-empty list of task names")
    specs, lengths = config.get("task_specs", []), config.get("target_lengths", {})
    if not isinstance(specs, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in specs):
        problems.append("task_specs as a list of task objects with a name")
    whole = lambda v: type(v) is int and v > 0  # noqa: E731
    if not isinstance(lengths, dict) or not all(whole(v) for v in lengths.values()):
        problems.append("target_lengths as positive whole numbers")
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    problems += [f"training.{key} as a positive whole number" for key in ("max_source_length", "max_target_length")
                 if key in training and not whole(training[key])]
    if problems:
        raise CheckpointError(f"{cfg_file} lacks {', '.join(dict.fromkeys(problems))}; the checkpoint is incomplete "
                              "or was edited by hand: re-save or retrain it")
    return config


def copy_weights(model: HyperLensModel, tensors: dict[str, torch.Tensor]) -> None:
    """Into the model's parameters of those names, in each parameter's own dtype (fp16 files load as fp32)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, t in tensors.items():
            params[k].copy_(t.to(params[k].dtype))


def read_weights(path) -> dict[str, torch.Tensor]:
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise CheckpointError(f"{Path(path)} has no {WEIGHTS}")
    with file.open("rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte header length, then the JSON header. A header length can start with 0x80 too, so the
    # JSON brace decides, not the first byte alone.
    if head[8:9] != b"{" and (head[:1] == b"\x80" or head[:2] == b"PK"):
        raise CheckpointError(f"{file} is a pickle/zip (torch.save) file, not safetensors; refusing to load it")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file} is truncated or corrupt ({e}); re-save or re-train the checkpoint") from e


def load_checkpoint(path, backbone: Backbone | None = None, device: str | torch.device = "cpu") -> HyperLensModel:
    config = read_config(path)
    tensors = read_weights(path)
    claimed = config["backbone"]
    backbone = backbone or load_backbone(claimed["name"], seed=claimed.get("seed", 0))
    if backbone.config_hash != claimed["config_hash"]:
        given = (f"the backbone given, also called {backbone.name!r}, has another architecture or random seed"
                 if backbone.name == claimed["name"] else f"the backbone given is {backbone.name!r}")
        raise CheckpointError(
            f"{path} was trained on backbone {claimed['name']!r} (config hash {claimed['config_hash']}), but "
            f"{given} (hash {backbone.config_hash}). Load it with the backbone it was trained on.")
    if backbone.warm_start != claimed.get("warm_start", ""):
        raise CheckpointError(
            f"{path} was trained on a different warm start of {claimed['name']!r} "
            f"({claimed.get('warm_start') or 'an earlier HyperLens version'}) than this one ({backbone.warm_start}). "
            "Retrain it with this version (`python -m analysis train ...`).")
    model = HyperLensModel.build(backbone, config["method"], config["tasks"], config["method_config"])
    expected = model.trainable_state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match method {config['method']!r} on {claimed['name']!r}: "
                              f"missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                              f"unexpected tensors {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    bad = [k for k in expected if expected[k].shape != tensors[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shape mismatch for {bad[:5]} "
                              f"(e.g. {bad[0]}: file {tuple(tensors[bad[0]].shape)} vs model {tuple(expected[bad[0]].shape)})")
    whole = [k for k, t in tensors.items() if not t.is_floating_point()]
    if whole:
        raise CheckpointError(f"{path} holds weights that are not floating point ({whole[:3]}: "
                              f"{tensors[whole[0]].dtype}); the file was not written by HyperLens")
    broken = [k for k, t in tensors.items() if not torch.isfinite(t).all()]
    if broken:
        raise CheckpointError(f"{path} holds weights that are NaN or infinite ({broken[:3]}{'...' if len(broken) > 3 else ''}): "
                              "the run that wrote it diverged; retrain it with a lower learning rate")
    copy_weights(model, tensors)
    model.config, model.task_specs = config, config.get("task_specs", model.task_specs)
    model.target_lengths = config.get("target_lengths", {})
    return model.to(device).eval()
