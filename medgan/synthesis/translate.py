"""Whole-volume translation with a trained run of a family that translates (``cyclegan``,
``pix2pix``, or any family whose :class:`~medgan.training.spec.FamilySpec` has a ``translator``):
a single image, a case, or a whole dataset written in its own layout with the labels unchanged.

A translator (what ``FamilySpec.translator(run, direction)`` returns) has ``translate_array(volume)``
(one channel in source units -> target units) and ``translate_network(x)`` (network range in and
out), the intensity mappings ``source`` and ``target`` (:mod:`medgan.transforms.modality`), the names
``source_modality`` and ``target_modality``, a ``description`` dict recorded in the outputs, and
settable ``batch_size`` and ``overlap``. The whole-volume inference itself (slices in 2D, Gaussian
-blended sliding windows in 3D) is :func:`medgan.models.inference.translate_tensor`.

Example:
    >>> translator = load_translator("runs/mr2ct", direction="a2b")  # doctest: +SKIP
    >>> hu = translator.translate_array(mr_volume)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import ConfigError, DataError
from medgan.registry import GAN_FAMILIES
from medgan.training.run import load_run
from medgan.transforms.modality_checks import check_input, refuse_other_modality


def translating_families() -> list[str]:
    """Names of the registered families that translate."""
    return [name for name in GAN_FAMILIES.names() if GAN_FAMILIES.get(name).translator is not None]


def load_translator(run_dir: str | Path, direction: str = "a2b", device: Any = "cpu") -> Any:
    """The translator of the run at ``run_dir`` in ``direction`` (``a2b`` or ``b2a``).

    Raises:
        DataError: not a run of a translating family, or no checkpoint yet.
        ConfigError: a direction the run does not learn (``b2a`` of a pix2pix run).
    """
    from medgan.training.run import read_run_config

    family, _ = read_run_config(run_dir)
    spec = GAN_FAMILIES.get(family)
    if spec.translator is None:
        raise DataError(run_dir, f"is a {family} run; translation needs a run of a family that translates "
                                 f"({', '.join(translating_families())})")
    if direction not in ("a2b", "b2a"):
        raise ConfigError(f"direction must be a2b or b2a, found {direction!r}")
    return spec.translator(load_run(run_dir, device), direction)


def translate_case(case: dict[str, Any], translator: Any, modality: str | None = None,
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
    channel = _input_channel(names, translator, modality, case["id"])
    index = names.index(channel)
    check_input(translator.source, case["image"][index], case["id"], channel)
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


def _input_channel(names: Sequence[str], translator: Any, modality: str | None, where: Any) -> str:
    """The channel to translate: ``modality``, else the run's source, else the only channel when it is
    not recognisably another modality.

    Raises:
        DataError: the channel is missing, or the only channel is another modality than the run's source.
    """
    channel = modality or translator.source_modality
    if channel in names:
        return channel
    if modality is None and len(names) == 1:
        refuse_other_modality(names[0], translator.source_modality, where)
        return names[0]
    raise DataError(where, f"has no channel {channel!r} to translate (channels: {list(names)})")


def _output_description(dataset: Any, modalities: Sequence[str]) -> dict[str, Any]:
    """The source ``dataset.json`` with its channel names replaced by the output's."""
    description = copy.deepcopy(dataset.description)
    names = {str(i): m for i, m in enumerate(modalities)}
    if "channel_names" in description:
        description["channel_names"] = names
    if "modality" in description:
        description["modality"] = names
    return description


def translate_dataset(translator: Any, dataset: Any, out: str | Path, modality: str | None = None,
                      keep_channels: bool = False, progress: bool = True) -> Path:
    """Translate every case of ``dataset`` into a new dataset at ``out`` in the same layout.

    Labels are copied unchanged; case ids stay the same; an interrupted run resumes (finished
    cases are skipped). Returns the manifest path.
    """
    from tqdm.auto import tqdm

    from medgan.io.writers import DatasetWriter

    if not dataset.cases:
        raise DataError(dataset.root, "dataset has no cases")
    for ref in dataset.cases:  # every case has the channel, before anything is written
        _input_channel(list(ref.modalities), translator, modality, dataset.root / ref.id)
    first = dataset.load(dataset.cases[0])
    names0 = list(first["meta"]["modalities"])
    channel = _input_channel(names0, translator, modality, first["id"])
    check_input(translator.source, first["image"][names0.index(channel)], first["id"], channel)
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


def translate_path(run_dir: str | Path, source: str | Path, out: str | Path, direction: str = "a2b",
                   modality: str | None = None, keep_channels: bool = False, device: str = "auto",
                   batch_size: int = 4, overlap: float = 0.5, progress: bool = True) -> str:
    """Translate an image file (``out`` is then a file) or a dataset (``out`` a new dataset).

    Returns:
        One line saying what was written.

    Raises:
        ConfigError: bad ``overlap``/``batch_size``, a file input with a non-image ``out`` or
            ``out`` equal to the input.
        DataError: a multi-channel file input.
    """
    from medgan.io.datasets import load_dataset
    from medgan.io.image import image_suffix, read_image, write_image

    source, out = Path(source), Path(out)
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"--overlap must lie in [0, 1), found {overlap}")
    if batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    translator = load_translator(run_dir, direction, device)
    translator.overlap, translator.batch_size = overlap, batch_size
    what = f"{translator.source_modality} -> {translator.target_modality}"
    if source.is_file():
        if not image_suffix(out):
            raise ConfigError(f"{out}: INPUT is a file, so OUT must be an image file name (.nii.gz, .mha, ...)")
        if out.resolve() == source.resolve():
            raise ConfigError(f"{out}: refusing to overwrite the input")
        array, meta = read_image(source)
        if array.shape[0] != 1:
            raise DataError(source, f"has {array.shape[0]} channels; translate a single-channel image "
                                    "(or give the dataset and --modality)")
        check_input(translator.source, array[0], source)
        result = translator.translate_array(array[0])[None]
        write_image(out, result.astype(np.float32), {**meta, "dtype": translator.target.dtype,
                                                    "scl_slope": None, "scl_inter": None})
        return f"translated {source} ({what}) to {out}"
    dataset = load_dataset(source)
    manifest = translate_dataset(translator, dataset, out, modality, keep_channels, progress=progress)
    return f"translated {len(dataset.cases)} case(s) of {source} ({what}) to {out}; manifest {manifest}"
