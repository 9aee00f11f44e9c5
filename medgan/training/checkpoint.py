"""Checkpoints that load without executing code: tensors in safetensors files, the rest in JSON.

A checkpoint is a folder ``checkpoints/step-00000100/`` holding

- ``networks.safetensors``: every network's ``state_dict`` (``net/<name>/...``) and the EMA copies
  (``ema/<name>/...``);
- ``state.safetensors``: the tensors of the training state (optimiser moments, RNG states, tensors in
  the family's state);
- ``state.json``: everything else (step, optimiser hyper-parameters, gradient-scaler state, the
  family's numbers), with ``{"__tensor__": key}`` where a tensor of ``state.safetensors`` belongs.

The folder is written under a temporary name and renamed, so a checkpoint either exists whole or
not at all; ``state.json`` is the last file written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from medgan.errors import DataError

PREFIX = "step-"


def split_tensors(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able copy of nested ``value`` with every tensor moved into ``tensors`` under its path."""
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint state key {k!r} at {key} is neither text nor an integer")
        return {"__dict__": [[k, split_tensors(v, f"{key}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [split_tensors(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint state at {key} has a value of type {type(value).__name__}")


def join_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(join_tensors(v, tensors) for v in value["__tuple__"])
        return {k: join_tensors(v, tensors) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [join_tensors(v, tensors) for v in value]
    return value


def save_checkpoint(folder: Path, step: int, networks: dict[str, dict[str, torch.Tensor]],
                    state: dict[str, Any]) -> Path:
    """Write checkpoint ``step`` under ``folder`` atomically and return its path.

    Args:
        folder: the run's ``checkpoints/`` folder.
        step: number of finished steps.
        networks: ``{"net/G": state_dict, "ema/G": state_dict, ...}``.
        state: nested training state (numbers, strings, tensors).
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{PREFIX}{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=folder))
    try:
        flat = {f"{owner}/{name}": t.detach().cpu().contiguous()
                for owner, sd in networks.items() for name, t in sd.items()}
        save_file(flat, str(tmp / "networks.safetensors"))
        tensors: dict[str, torch.Tensor] = {}
        plain = split_tensors(state, "state", tensors)
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step, "state": plain}), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def load_networks(checkpoint: Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{"net/G": state_dict, "ema/G": state_dict, ...}`` from a checkpoint folder."""
    path = checkpoint / "networks.safetensors"
    if not path.is_file():
        raise DataError(checkpoint, "checkpoint has no networks.safetensors")
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_file(str(path)).items():
        owner, kind, name = key.split("/", 2)
        grouped.setdefault(f"{owner}/{kind}", {})[name] = tensor
    return grouped


def load_state(checkpoint: Path) -> tuple[int, dict[str, Any]]:
    """``(step, state)`` from a checkpoint folder, tensors restored in place."""
    try:
        saved = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(checkpoint / "state.safetensors"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(checkpoint, f"checkpoint cannot be read ({exc})") from None
    return int(saved["step"]), join_tensors(saved["state"], tensors)


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints."""
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def restore_networks(checkpoint: Path, networks: Mapping[str, nn.Module], prefer_ema: bool = True) -> None:
    """Load each network's weights from ``checkpoint``: ``ema/<name>`` when the run kept an average
    and ``prefer_ema``, else ``net/<name>``.

    Raises:
        DataError: the checkpoint lacks a network, or its tensors do not fit the module.
    """
    weights = load_networks(Path(checkpoint))
    for name, module in networks.items():
        key = f"ema/{name}" if prefer_ema and f"ema/{name}" in weights else f"net/{name}"
        if key not in weights:
            raise DataError(checkpoint, f"checkpoint has no weights for network {name!r}")
        try:
            module.load_state_dict(weights[key])
        except RuntimeError as error:
            problem = " ".join(str(error).split())[:300]
            raise DataError(checkpoint, f"weights of network {name!r} do not fit its config ({problem})") from None
