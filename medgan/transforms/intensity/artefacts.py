"""MRI artefacts through TorchIO: motion, ghosting, spike, anisotropic down-sampling.

TorchIO draws from torch's global generator; here each call seeds a forked copy of it with a seed
drawn from ``self.R`` (the global state is restored afterwards), so results follow
``set_random_state`` like every other medgan transform.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from medgan.registry import TRANSFORMS
from medgan.transforms.base import META_KEY
from medgan.transforms.intensity.base import IntensityTransform


class TorchIOArtefact(IntensityTransform):
    """Runs one TorchIO random transform on each image key, seeded from ``self.R``."""

    def __init__(self, keys: Sequence[Hashable] | Hashable, prob: float, allow_missing_keys: bool,
                 **settings: Any) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.settings = settings
        self._tio = self.build()  # raises ValueError for out-of-range settings

    def build(self) -> Any:
        raise NotImplementedError

    def draw(self) -> dict[str, Any] | None:
        return {**self.settings, "seed": self.draw_seed()}

    def __call__(self, data: Any) -> dict[Hashable, Any]:
        self._affine = _affine_of(data)
        return super().__call__(data)

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        import torchio as tio

        dims = x.ndim - 1
        tensor = x.detach().cpu().float()
        if dims == 2:
            tensor = tensor[..., None]
        affine = self._affine if self._affine is not None else np.diag([*spacing, *([1.0] * (3 - dims)), 1.0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(params["seed"] + index)
            subject = tio.Subject(image=tio.ScalarImage(tensor=tensor.clone(), affine=affine))
            out = self._tio(subject)["image"].data
        if dims == 2:
            out = out[..., 0]
        return out.to(device=x.device, dtype=x.dtype)


def _affine_of(data: Any) -> np.ndarray | None:
    meta = data.get(META_KEY) if isinstance(data, dict) else None
    if isinstance(meta, dict) and meta.get("affine") is not None:
        affine = np.asarray(meta["affine"], float)
        return affine if affine.shape == (4, 4) else None
    return None


@TRANSFORMS.register("motion")
class RandMotiond(TorchIOArtefact):
    """MR motion artefact (TorchIO ``RandomMotion``): ``num_transforms`` movements of up to
    ``degrees`` and ``translation_mm`` mixed in k-space."""

    name = "motion"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 degrees: float = 10.0, translation_mm: float = 10.0, num_transforms: int = 2,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys, degrees=float(degrees),
                         translation_mm=float(translation_mm), num_transforms=int(num_transforms))

    def build(self) -> Any:
        import torchio as tio

        s = self.settings
        if s["degrees"] < 0 or s["translation_mm"] < 0 or s["num_transforms"] < 1:
            raise ValueError("degrees and translation_mm must be >= 0 and num_transforms >= 1")
        return tio.RandomMotion(degrees=s["degrees"], translation=s["translation_mm"],
                                num_transforms=s["num_transforms"])


@TRANSFORMS.register("ghosting")
class RandGhostingd(TorchIOArtefact):
    """MR ghosting artefact (TorchIO ``RandomGhosting``)."""

    name = "ghosting"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 num_ghosts: Sequence[int] = (4, 10), axes: Sequence[int] = (0, 1, 2),
                 intensity: Sequence[float] = (0.5, 1.0), allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys, num_ghosts=[int(v) for v in num_ghosts],
                         axes=[int(a) for a in axes], intensity=[float(v) for v in intensity])

    def build(self) -> Any:
        import torchio as tio

        s = self.settings
        return tio.RandomGhosting(num_ghosts=tuple(s["num_ghosts"]), axes=tuple(s["axes"]),
                                  intensity=tuple(s["intensity"]))


@TRANSFORMS.register("spike")
class RandSpiked(TorchIOArtefact):
    """MR spike (herringbone) artefact (TorchIO ``RandomSpike``)."""

    name = "spike"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 num_spikes: int = 1, intensity: Sequence[float] = (1.0, 3.0),
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys, num_spikes=int(num_spikes),
                         intensity=[float(v) for v in intensity])

    def build(self) -> Any:
        import torchio as tio

        s = self.settings
        if s["num_spikes"] < 1:
            raise ValueError(f"num_spikes must be >= 1, got {s['num_spikes']}")
        return tio.RandomSpike(num_spikes=s["num_spikes"], intensity=tuple(s["intensity"]))


@TRANSFORMS.register("anisotropy")
class RandAnisotropyd(TorchIOArtefact):
    """Anisotropic down-sampling along one axis, then back to the original grid (TorchIO
    ``RandomAnisotropy``): simulates thick-slice acquisitions. Labels are not changed."""

    name = "anisotropy"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 axes: Sequence[int] = (0, 1, 2), downsampling: Sequence[float] = (1.5, 5.0),
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys, axes=[int(a) for a in axes],
                         downsampling=[float(v) for v in downsampling])

    def build(self) -> Any:
        import torchio as tio

        s = self.settings
        return tio.RandomAnisotropy(axes=tuple(s["axes"]), downsampling=tuple(s["downsampling"]))
