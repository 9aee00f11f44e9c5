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
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from medgan.errors import DataError

PREFIX = "step-"
NETWORKS = "networks.safetensors"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


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
    """Inverse of :func:`split_tensors`.

    Raises:
        ValueError: a tensor reference names no tensor of ``tensors``, or the structure is not one
            :func:`split_tensors` writes.
    """
    if isinstance(value, dict):
        if "__tensor__" in value:
            key = value["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise ValueError(f"refers to tensor {key!r}, which state.safetensors does not hold")
            return tensors[key]
        if "__tuple__" in value:
            return tuple(join_tensors(v, tensors) for v in _list(value["__tuple__"]))
        if "__dict__" not in value:
            raise ValueError(f"holds a mapping of unknown form (keys {', '.join(map(str, value))})")
        items = _list(value["__dict__"])
        if not all(isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], (str, int)) for kv in items):
            raise ValueError("holds a mapping whose entries are not [key, value] pairs")
        return {k: join_tensors(v, tensors) for k, v in items}
    if isinstance(value, list):
        return [join_tensors(v, tensors) for v in value]
    return value


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ValueError(f"holds {type(value).__name__} where a list belongs")
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
        save_file(flat, str(tmp / NETWORKS))
        tensors: dict[str, torch.Tensor] = {}
        plain = split_tensors(state, "state", tensors)
        save_file(tensors, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps({"step": step, "state": plain}), encoding="utf-8")
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
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_JSON).is_file()
             and p.name[len(PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, refusing a damaged file and non-finite values.

    Raises:
        DataError: the file is missing, unreadable (corrupt, oversized or truncated header, data
            cut short), or a floating-point tensor holds NaN or infinite values.
    """
    if not path.is_file():
        raise DataError(path, "missing from the checkpoint")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise DataError(path, f"not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DataError(path, f"tensor {key!r} holds NaN or infinite values (the run diverged or the file "
                                  "is damaged)")
    return tensors


def load_networks(checkpoint: Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{"net/G": state_dict, "ema/G": state_dict, ...}`` from a checkpoint folder.

    Raises:
        DataError: ``networks.safetensors`` is missing or damaged, holds NaN/Inf, or a key is not
            ``net/<network>/<tensor>`` or ``ema/<network>/<tensor>``.
    """
    path = checkpoint / NETWORKS
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in read_tensors(path).items():
        parts = key.split("/", 2)
        if len(parts) != 3 or parts[0] not in ("net", "ema") or not parts[1] or not parts[2]:
            raise DataError(path, f"tensor key {key!r} is not net/<network>/<tensor> or ema/<network>/<tensor>")
        grouped.setdefault(f"{parts[0]}/{parts[1]}", {})[parts[2]] = tensor
    return grouped


def load_state(checkpoint: Path) -> tuple[int, dict[str, Any]]:
    """``(step, state)`` from a checkpoint folder, tensors restored in place.

    Raises:
        DataError: ``state.json`` is missing, truncated or malformed, refers to a tensor that
            ``state.safetensors`` lacks, or ``state.safetensors`` is damaged or holds NaN/Inf.
    """
    path = checkpoint / STATE_JSON
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "missing from the checkpoint") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"is not valid JSON, perhaps cut short ({exc})") from None
    if not isinstance(saved, dict) or "state" not in saved:
        raise DataError(path, "is not a checkpoint state (no 'state' entry)")
    step = saved.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise DataError(path, f"has no valid step number (found {step!r})")
    tensors = read_tensors(checkpoint / STATE_TENSORS)
    try:
        return step, join_tensors(saved["state"], tensors)
    except ValueError as exc:
        raise DataError(path, str(exc)) from None


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints."""
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def load_module(path: Path, key: str, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load ``tensors`` (the ``key`` = ``net/G`` part of a checkpoint) into ``module`` after checking
    that names, shapes and dtypes are exactly those of the module.

    Raises:
        DataError: naming ``path`` and the first tensor that is missing, unexpected, or of another
            shape or dtype.
    """
    expected = module.state_dict()
    missing = [name for name in expected if name not in tensors]
    unexpected = [name for name in tensors if name not in expected]
    if missing:
        instead = f" (it holds {key}/{unexpected[0]} instead)" if unexpected else ""
        raise DataError(path, f"tensor {key}/{missing[0]} is missing{instead}; the checkpoint does not match the "
                              "network the config builds")
    if unexpected:
        raise DataError(path, f"unexpected tensor {key}/{unexpected[0]}: the network the config builds has no "
                              "such tensor")
    for name, reference in expected.items():
        found = tensors[name]
        if found.shape != reference.shape:
            raise DataError(path, f"tensor {key}/{name} has shape {tuple(found.shape)}, the network the config "
                                  f"builds needs {tuple(reference.shape)}")
        if found.dtype != reference.dtype:
            raise DataError(path, f"tensor {key}/{name} is {str(found.dtype).replace('torch.', '')}, the network "
                                  f"needs {str(reference.dtype).replace('torch.', '')}")
    module.load_state_dict(tensors)


def restore_networks(checkpoint: Path, networks: Mapping[str, nn.Module], prefer_ema: bool = True) -> None:
    """Load trained weights into ``networks`` (by name) from a checkpoint folder, checked first.

    Each network gets ``ema/<name>`` when the checkpoint has it and ``prefer_ema`` is set, else
    ``net/<name>``. Other networks in the checkpoint are ignored.

    Args:
        checkpoint: a ``checkpoints/step-*`` folder.
        networks: the networks the run's config builds, by their checkpoint names.
        prefer_ema: use the exponential moving averages where present (what synthesis samples from).

    Raises:
        DataError: naming the checkpoint file and the tensor at fault: damaged file, NaN/Inf values,
            a network or tensor missing or renamed, another shape or dtype.

    Example:
        >>> restore_networks(list_checkpoints(run / "checkpoints")[-1], {"G": generator})  # doctest: +SKIP
    """
    checkpoint = Path(checkpoint)
    weights = load_networks(checkpoint)
    path = checkpoint / NETWORKS
    for name, module in networks.items():
        key = f"ema/{name}" if prefer_ema and f"ema/{name}" in weights else f"net/{name}"
        if key not in weights:
            raise DataError(path, f"holds no weights of network {name!r} (no tensor net/{name}/...)")
        load_module(path, key, module, weights[key])
