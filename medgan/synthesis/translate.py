"""Whole-volume translation with a trained CycleGAN or pix2pix run: a single image, a case, or a
whole dataset written in its own layout with the labels unchanged.

2D models run slice by slice along the last (axial) axis, each slice padded to the generator's
size multiple; 3D models run MONAI's ``sliding_window_inference`` with overlapping windows blended
by a Gaussian weight, so volumes of any size come out whole and without seams.

Example:
    >>> translator = Translator.from_run("runs/mr2ct", direction="a2b")  # doctest: +SKIP
    >>> hu = translator.translate_array(mr_volume)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medgan.errors import ConfigError, DataError
from medgan.transforms.modality import Scale, make_scale

Direction = Literal["a2b", "b2a"]
#: relative overlap of neighbouring 3D windows
DEFAULT_OVERLAP = 0.5


def _pad_to_multiple(x: torch.Tensor, divisor: int, fill: float) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pad the spatial axes of ``(N, C, *S)`` at their end to multiples of ``divisor``."""
    sizes = x.shape[2:]
    pads: list[int] = []
    for size in reversed(sizes):
        pads += [0, (-size) % divisor]
    return F.pad(x, pads, value=fill), tuple(sizes)


@torch.no_grad()
def translate_tensor(network: nn.Module, volume: torch.Tensor, spatial_dims: int, roi_size: int, divisor: int,
                     overlap: float = DEFAULT_OVERLAP, batch_size: int = 4, fill: float = -1.0) -> torch.Tensor:
    """Run ``network`` over a whole image in the network range.

    Args:
        network: the generator (already on its device, in eval mode).
        volume: ``(C, X, Y[, Z])`` in [-1, 1], on the CPU or the network's device.
        spatial_dims: 2 (slice-wise along the last axis of a 3D volume, or the 2D image itself) or 3
            (sliding windows).
        roi_size: 3D window edge (the training patch size).
        divisor: the generator's size multiple (slices are padded to it).
        overlap: relative overlap of 3D windows.
        batch_size: slices or windows per forward pass.
        fill: value of the padding (air: -1).

    Returns:
        ``(C_out, X, Y[, Z])`` float32 on the CPU.
    """
    device = next(network.parameters()).device
    if spatial_dims == 3:
        from monai.inferers import sliding_window_inference

        if volume.dim() != 4:
            raise ValueError(f"a 3D model needs a (C, X, Y, Z) volume, found shape {tuple(volume.shape)}")
        out = sliding_window_inference(volume[None].float(), roi_size=(roi_size,) * 3, sw_batch_size=batch_size,
                                       predictor=network, overlap=overlap, mode="gaussian",
                                       padding_mode="constant", cval=fill, sw_device=device, device="cpu")
        return torch.as_tensor(out)[0].float()
    if volume.dim() == 3:
        slices = volume[None]
    elif volume.dim() == 4:
        slices = volume.permute(3, 0, 1, 2)
    else:
        raise ValueError(f"expected a (C, X, Y[, Z]) image, found shape {tuple(volume.shape)}")
    outputs = []
    for start in range(0, slices.shape[0], batch_size):
        chunk, sizes = _pad_to_multiple(slices[start:start + batch_size].float().to(device), divisor, fill)
        outputs.append(network(chunk)[:, :, :sizes[0], :sizes[1]].float().cpu())
    result = torch.cat(outputs, 0)
    return result[0] if volume.dim() == 3 else result.permute(1, 2, 3, 0)


@dataclass
class Translator:
    """A trained generator with its intensity mappings, ready to translate whole volumes.

    Attributes:
        network: the generator (eval mode).
        spatial_dims: 2 or 3.
        roi_size: training patch size (3D window edge).
        divisor: size multiple the generator needs.
        source, target: intensity mappings of the input and output modality.
        source_modality, target_modality: their names.
        description: family, run folder and direction (recorded in outputs).
    """

    network: nn.Module
    spatial_dims: int
    roi_size: int
    divisor: int
    source: Scale
    target: Scale
    source_modality: str
    target_modality: str
    description: dict[str, Any]
    overlap: float = DEFAULT_OVERLAP
    batch_size: int = 4

    @classmethod
    def from_run(cls, run_dir: str | Path, direction: Direction = "a2b", device: str | torch.device = "cpu"
                 ) -> Translator:
        """Load the newest checkpoint of a ``cyclegan`` or ``pix2pix`` run.

        Raises:
            DataError: not a translation run, or no checkpoint yet.
            ConfigError: ``b2a`` asked of a pix2pix run (it only learns source -> target).
        """
        from medgan.training.checkpoint import list_checkpoints, load_networks
        from medgan.training.run import CHECKPOINTS, read_run_config

        run_dir = Path(run_dir)
        family, config = read_run_config(run_dir)
        if family not in ("cyclegan", "pix2pix"):
            raise DataError(run_dir, f"is a {family} run, not a cyclegan or pix2pix run")
        if direction not in ("a2b", "b2a"):
            raise ConfigError(f"direction must be a2b or b2a, found {direction!r}")
        checkpoints = list_checkpoints(run_dir / CHECKPOINTS)
        if not checkpoints:
            raise DataError(run_dir, "run has no checkpoint yet")
        weights = load_networks(checkpoints[-1])
        data = config.data
        if family == "cyclegan":
            from medgan.families.cyclegan.step import build_generators

            g_ab, g_ba = build_generators(config)
            network, name = (g_ab, "G_ab") if direction == "a2b" else (g_ba, "G_ba")
            divisor = 4
        else:
            if direction != "a2b":
                raise ConfigError("a pix2pix run translates only source -> target (a2b)")
            from medgan.families.pix2pix.step import build_generator

            network, name = build_generator(config), "G"
            divisor = 2 ** config.model.depth
        network.load_state_dict(weights[f"net/{name}"])
        network.to(torch.device(device)).eval()
        src, dst = (data.a, data.b) if direction == "a2b" else (data.b, data.a)
        return cls(network, data.spatial_dims, int(data.patch_size), divisor,
                   make_scale(src.intensity, src.modality or ""), make_scale(dst.intensity, dst.modality or ""),
                   src.modality or "", dst.modality or "",
                   {"family": family, "run": str(run_dir), "checkpoint": checkpoints[-1].name,
                    "direction": direction})

    def translate_network(self, volume: np.ndarray) -> np.ndarray:
        """``(1, X, Y[, Z])`` network-range input -> ``(1, X, Y[, Z])`` network-range output."""
        out = translate_tensor(self.network, torch.from_numpy(np.ascontiguousarray(volume, np.float32)),
                               self.spatial_dims, self.roi_size, self.divisor, self.overlap, self.batch_size)
        return out.numpy()

    def translate_array(self, volume: np.ndarray) -> np.ndarray:
        """One channel ``(X, Y[, Z])`` in source units -> target units (HU for CT), same shape."""
        x = self.source.to_network(volume)[None]
        return self.target.to_units(self.translate_network(x))[0]


def translate_case(case: dict[str, Any], translator: Translator, modality: str | None = None,
                   keep_channels: bool = False) -> dict[str, Any]:
    """A new case holding the translation of ``case``'s source channel.

    Args:
        case: a case dictionary (image in source units).
        translator: the loaded run.
        modality: the channel to translate (default: the run's source modality, or the case's only
            channel).
        keep_channels: keep the case's other channels; the translation replaces the channel named
            like the target modality, or is appended. Default: the translation is the only channel.

    Returns:
        The new case: label unchanged, meta with the target modality, storage dtype (int16 for CT)
        and a ``translate`` entry in ``history``.
    """
    meta = case["meta"]
    names = list(meta.get("modalities") or [])
    channel = modality or translator.source_modality
    if channel not in names:
        if modality is None and len(names) == 1:
            channel = names[0]
        else:
            raise DataError(case["id"], f"has no channel {channel!r} to translate (channels: {names})")
    index = names.index(channel)
    translated = translator.translate_array(case["image"][index]).astype(np.float32)
    storage = list(meta.get("source", {}).get("storage") or [{"dtype": meta.get("dtype")}] * len(names))
    new_storage = {"dtype": translator.target.dtype, "scl_slope": None, "scl_inter": None, "channels": 1}
    if keep_channels:
        image = np.asarray(case["image"], dtype=np.float32).copy()
        target = translator.target_modality
        if target in names:
            image[names.index(target)] = translated
            storage[names.index(target)] = new_storage
        else:
            image = np.concatenate([image, translated[None]], 0)
            names, storage = names + [target], storage + [new_storage]
    else:
        image, names, storage = translated[None], [translator.target_modality], [new_storage]
    new_meta = copy.deepcopy({k: v for k, v in meta.items() if k != "source"})
    new_meta["source"] = {**copy.deepcopy(meta.get("source", {})), "storage": storage}
    new_meta.update(modalities=names, dtype=storage[0].get("dtype") or translator.target.dtype,
                    scl_slope=None, scl_inter=None)
    new_meta["history"] = list(meta.get("history", [])) + [
        {"name": "translate", "channel": channel, "to": translator.target_modality, **translator.description}]
    out = {"image": image, "meta": new_meta, "id": case["id"]}
    if "label" in case:
        out["label"] = case["label"]
    return out


def _output_description(dataset: Any, modalities: Sequence[str]) -> dict[str, Any]:
    """The source ``dataset.json`` with its channel names replaced by the output's."""
    description = copy.deepcopy(dataset.description)
    names = {str(i): m for i, m in enumerate(modalities)}
    if "channel_names" in description:
        description["channel_names"] = names
    if "modality" in description:
        description["modality"] = names
    return description


def translate_dataset(translator: Translator, dataset: Any, out: str | Path, modality: str | None = None,
                      keep_channels: bool = False, progress: bool = True) -> Path:
    """Translate every case of ``dataset`` into a new dataset at ``out`` in the same layout.

    Labels are copied unchanged; case ids stay the same; an interrupted run resumes (finished
    cases are skipped). Returns the manifest path.
    """
    from tqdm.auto import tqdm

    from medgan.io.writers import DatasetWriter

    if not dataset.cases:
        raise DataError(dataset.root, "dataset has no cases")
    first_names = list(dataset.cases[0].modalities)
    if keep_channels:
        names = first_names if translator.target_modality in first_names else first_names + [translator.target_modality]
    else:
        names = [translator.target_modality]
    shaped = dataclasses.replace(dataset, description=_output_description(dataset, names), modalities=tuple(names))
    writer = DatasetWriter(shaped, out)
    for ref in tqdm(dataset.cases, desc="translate", disable=not progress):
        if writer.done(ref.id):
            continue
        case = translate_case(dataset.load(ref), translator, modality, keep_channels)
        writer.write(case, ref.id, {"source_case": ref.id, **translator.description})
    return writer.finish()
