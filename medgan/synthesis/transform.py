"""``RandLesionInsertiond``: a MONAI dictionary transform that inserts lesions from a trained run of
any family whose sampler inserts lesions (``sampler.insert(case, n, rng, classes, organ_labels,
margin, border) -> (case, records)``, as the lesion GAN's does).

Example:
    >>> from monai.transforms import Compose
    >>> t = Compose([RandLesionInsertiond(run="runs/lesions", prob=0.5)])  # doctest: +SKIP
    >>> t.set_random_state(seed=0)  # doctest: +SKIP
    >>> case = t(case)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import MapTransform, RandomizableTransform

from medgan.errors import ConfigError


class RandLesionInsertiond(RandomizableTransform, MapTransform):
    """With probability ``prob``, insert between ``n_lesions[0]`` and ``n_lesions[1]`` synthetic lesions.

    Randomness comes only from the transform's own state (``set_random_state``); each application
    draws one seed, recorded in ``meta["history"]`` when the sample has a ``meta`` dict.

    Args:
        run: a run folder, or a loaded lesion sampler (anything with ``insert``, e.g.
            :class:`medgan.families.lesion_gan.sampling.LesionGenerator`).
        image_key, label_key: keys of the ``(C, ...)`` image and ``(1, ...)`` label map.
        prob: probability of inserting anything.
        n_lesions: inclusive range of the number of lesions.
        classes: lesion classes (label values) to draw from; default all of the run's.
        organ_labels: label values of the organ to insert into; default: intensity-based mask.
        margin, border: see :func:`~medgan.transforms.insertion.insert_lesion` (distance to existing
            lesions and width of the blended border, in voxels).
        device: where the generator runs.
    """

    def __init__(self, run: str | Path | Any, image_key: str = "image", label_key: str = "label",
                 prob: float = 0.5, n_lesions: tuple[int, int] = (1, 1), classes: Sequence[int] | None = None,
                 organ_labels: Sequence[int] | None = None, margin: int = 3, border: float = 2.0,
                 device: str = "cpu") -> None:
        MapTransform.__init__(self, [image_key, label_key], allow_missing_keys=True)
        RandomizableTransform.__init__(self, prob)
        if isinstance(run, (str, Path)):
            from medgan.training.run import load_sampler

            run = load_sampler(run, device)
        if not callable(getattr(run, "insert", None)):
            raise ConfigError(f"RandLesionInsertiond needs a run whose family inserts lesions; {type(run).__name__} "
                              "has no insert()")
        self.lesions = run
        self.image_key, self.label_key = image_key, label_key
        self.n_lesions, self.classes, self.organ_labels = n_lesions, classes, organ_labels
        self.margin, self.border = margin, border
        self._seed, self._count = 0, 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._seed = int(self.R.randint(0, 2**31 - 1))
        self._count = int(self.R.randint(self.n_lesions[0], self.n_lesions[1] + 1))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        out = dict(data)
        self.randomize()
        if not self._do_transform or self._count == 0:
            return out
        image = out[self.image_key]
        as_tensor = hasattr(image, "detach")
        case = {"image": np.asarray(image.detach().cpu().numpy() if as_tensor else image),
                "meta": out.get("meta", {}), "id": out.get("id", "case")}
        if self.label_key in out:
            label = out[self.label_key]
            case["label"] = np.asarray(label.detach().cpu().numpy() if hasattr(label, "detach") else label)
        new, _ = self.lesions.insert(case, self._count, np.random.default_rng(self._seed), self.classes,
                                     self.organ_labels, self.margin, self.border)
        new["meta"]["history"][-1]["seed"] = self._seed
        if as_tensor:
            import torch

            out[self.image_key] = torch.as_tensor(new["image"])
            out[self.label_key] = torch.as_tensor(new["label"])
        else:
            out[self.image_key], out[self.label_key] = new["image"], new["label"]
        if "meta" in out:
            out["meta"] = new["meta"]
        return out
