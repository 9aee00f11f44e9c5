"""A trained translation run as a translator (whole volumes in source units -> target units) and as
the benchmark's sampler (context cases whose target channel is the translation of their source
channel; Hammami et al. 2020 add CycleGAN-translated MR to CT training this way).

Example:
    >>> from medgan.training.run import load_run
    >>> translator = make_translator(load_run("runs/mr2ct"), "G_ab", 4, "a2b")  # doctest: +SKIP
    >>> hu = translator.translate_array(mr_volume)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medgan.errors import ConfigError, DataError
from medgan.models.inference import DEFAULT_OVERLAP, translate_tensor
from medgan.transforms.modality import Scale, fit_reference, make_scale


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
        overlap, batch_size: of the sliding windows / slices (see :mod:`medgan.models.inference`).
    """

    network: Any
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

    def translate_network(self, volume: np.ndarray) -> np.ndarray:
        """``(1, X, Y[, Z])`` network-range input -> ``(1, X, Y[, Z])`` network-range output."""
        import torch

        out = translate_tensor(self.network, torch.from_numpy(np.ascontiguousarray(volume, np.float32)),
                               self.spatial_dims, self.roi_size, self.divisor, self.overlap, self.batch_size)
        return out.numpy()

    def translate_array(self, volume: np.ndarray) -> np.ndarray:
        """One channel ``(X, Y[, Z])`` in source units -> target units (HU for CT), same shape."""
        x = self.source.to_network(volume)[None]
        return self.target.to_units(self.translate_network(x))[0]


def make_translator(run: Any, network: str, divisor: int, direction: str) -> Translator:
    """The translator of a loaded translation run (:class:`~medgan.training.run.Run`).

    Args:
        run: the loaded run (``config.data.a/b`` are its domains).
        network: name of the generator in ``run.networks`` for this direction.
        divisor: the generator's size multiple.
        direction: ``a2b`` (domain A -> B) or ``b2a``.
    """
    if direction not in ("a2b", "b2a"):
        raise ConfigError(f"direction must be a2b or b2a, found {direction!r}")
    data = run.config.data
    src, dst = (data.a, data.b) if direction == "a2b" else (data.b, data.a)
    return Translator(run.networks[network], data.spatial_dims, int(data.patch_size), divisor,
                      make_scale(src.intensity, src.modality or ""), make_scale(dst.intensity, dst.modality or ""),
                      src.modality or "", dst.modality or "",
                      {"family": run.family, "run": str(run.path), "checkpoint": run.checkpoint.name,
                       "direction": direction})


# ------------------------------------------------------------------------------ benchmark


class CaseChannels:
    """Channel ``modality`` of a case, or of the same case in its dataset folder on disk (so a
    CT-only pipeline can still translate the MR of its training cases). Datasets are read once."""

    def __init__(self) -> None:
        self._datasets: dict[str, Any] = {}

    def __call__(self, case: dict[str, Any], modality: str) -> np.ndarray:
        names = list(case["meta"].get("modalities") or [])
        if modality in names:
            return np.asarray(case["image"][names.index(modality)], dtype=np.float32)
        source = case["meta"].get("source", {})
        root, case_id = source.get("root"), source.get("case_id", case.get("id"))
        if not root:
            raise DataError(case.get("id", "case"),
                            f"has no {modality!r} channel and no dataset folder to read it from")
        if root not in self._datasets:
            from medgan.io.datasets import load_dataset

            self._datasets[root] = load_dataset(root)
        other = self._datasets[root].load(case_id)
        other_names = list(other["meta"]["modalities"])
        if modality not in other_names:
            raise DataError(root, f"case {case_id} has no modality {modality!r}")
        volume = np.asarray(other["image"][other_names.index(modality)], dtype=np.float32)
        if volume.shape != tuple(case["image"].shape[1:]):
            raise DataError(root, f"case {case_id}: {modality} grid {volume.shape} differs from the case's")
        return volume


def network_volumes(data: Any, cases: Sequence[dict[str, Any]], channels: CaseChannels | None = None
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Both domains' channels of in-memory ``cases`` in the network range, ``(1, X, Y[, Z])`` each.

    The domains' intensity references are fitted on these cases when not set (in place). With
    ``data.disjoint``, domain A takes one half of the cases and B the other (recorded in
    ``data.cases_a``/``cases_b``).

    Raises:
        ConfigError: a domain names no modality.
    """
    channels = channels or CaseChannels()
    per_domain = [list(cases), list(cases)]
    if getattr(data, "disjoint", False):
        from medgan.families._translation.config import disjoint_halves

        by_id = {str(c.get("id", i)): c for i, c in enumerate(cases)}
        data.cases_a, data.cases_b = disjoint_halves(list(by_id))
        per_domain = [[by_id[i] for i in data.cases_a], [by_id[i] for i in data.cases_b]]
    out = []
    for domain, domain_cases in zip((data.a, data.b), per_domain):
        if not domain.modality:
            raise ConfigError("translation on in-memory cases: data.a.modality and data.b.modality must be set")
        raw = [channels(c, domain.modality) for c in domain_cases]
        if domain.intensity.reference is None:
            domain.intensity.reference = fit_reference(domain.intensity, domain.modality, raw)
        scale = make_scale(domain.intensity, domain.modality)
        out.append([scale.to_network(v)[None] for v in raw])
    return out[0], out[1]


class TranslationSampler:
    """The benchmark sampler of a translation run: context cases (drawn with the seed) whose target
    channel is replaced by the translation of their source channel, stored as float32; labels and
    geometry are the context case's.

    Args:
        translator: the run's source -> target translator.
        family: the family's name (in case ids and history).
    """

    def __init__(self, translator: Translator, family: str) -> None:
        self.translator, self.family = translator, family
        self.channels = CaseChannels()

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` cases translated from ``context`` (same seed, same cases)."""
        if not context:
            raise ConfigError(f"{self.family} stage: no context cases to translate")
        source, target = self.translator.source_modality, self.translator.target_modality
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(len(context)) for _ in range(-(-n // len(context)))])[:n]
        out = []
        for index in order:
            case = context[int(index)]
            names = list(case["meta"].get("modalities") or [])
            if target not in names:
                raise DataError(case.get("id", "case"), f"has no {target!r} channel to replace (channels: {names})")
            translated = self.translator.translate_array(self.channels(case, source))
            image = np.asarray(case["image"], dtype=np.float32).copy()
            image[names.index(target)] = translated
            meta = copy.deepcopy(case["meta"])
            meta["dtype"] = "float32"
            meta["source"] = {**meta.get("source", {}),
                              "storage": [{"dtype": "float32", "scl_slope": None, "scl_inter": None, "channels": 1}
                                          for _ in names]}
            meta["source_case"] = case.get("id", "")
            meta["history"] = list(meta.get("history", [])) + [
                {"name": f"{self.family}-translate", "from": source, "to": target, "seed": seed}]
            new = {"image": image, "meta": meta, "id": f"{case.get('id', 'case')}_{self.family}"}
            if "label" in case:
                new["label"] = np.asarray(case["label"]).copy()
            out.append(new)
        return out
