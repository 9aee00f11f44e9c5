"""Inception-v3 pool features from a local, hash-checked weights file (optional; needs torchvision).

medgan never downloads weights. The user gives a file holding the state dict of torchvision's
``inception_v3`` (ImageNet, ``IMAGENET1K_V1``; ``.pth`` read with ``torch.load(weights_only=True)``
or ``.safetensors``) and its SHA-256. Without a given hash the file is accepted only when its SHA-256
starts with the prefix torchvision publishes in the file name (``inception_v3_google-0cc3c7bd.pth``).
torchvision is not a core dependency of medgan: without it this extractor raises a
:class:`~medgan.errors.ConfigError` saying so.

Each 2D plane (a 2D image, or the three orthogonal mid-planes of a 3D volume) of each channel is
clipped to [0, 1], repeated to three colour channels, resized to 299x299, normalised with the
ImageNet mean and standard deviation, and passed through the network up to global average pooling
(2048 features); the vectors of all planes and channels of a case are averaged. These are *not* the
TensorFlow-Inception features behind published FID values, so the numbers are comparable only
with numbers from this extractor.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from medgan.errors import ConfigError, DataError
from medgan.metrics.casesets import mid_planes

#: SHA-256 prefixes of known Inception-v3 weight files (torch.hub file-name convention)
KNOWN_SHA256_PREFIXES = {"0cc3c7bd": "torchvision inception_v3 IMAGENET1K_V1 (inception_v3_google-0cc3c7bd.pth)"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(path: str | Path, sha256: str | None = None) -> str:
    """Check the weights file against ``sha256`` (or a known prefix); return its full SHA-256.

    Raises:
        DataError: the file is missing or its hash does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "Inception weights file does not exist (medgan never downloads weights)")
    actual = sha256_of(path)
    if sha256 is not None:
        if actual != sha256.strip().lower():
            raise DataError(path, f"SHA-256 is {actual}, not the expected {sha256.strip().lower()}")
        return actual
    if not any(actual.startswith(prefix) for prefix in KNOWN_SHA256_PREFIXES):
        raise DataError(path, f"SHA-256 {actual} matches no known Inception-v3 weights; pass the expected "
                              "hash with --inception-sha256 to use this file")
    return actual


def _load_state_dict(path: Path) -> dict:
    if path.name.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's data problem
        raise DataError(path, f"cannot read weights ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(path, "expected a state dict of torchvision inception_v3")
    return state


class InceptionExtractor:
    """Inception-v3 pool features (2048) from verified local weights.

    Args:
        weights: path of the state dict of torchvision ``inception_v3``.
        sha256: its expected SHA-256 (default: accept only known weights).
        device: torch device.
        batch_size: planes per forward pass.
    """

    name = "inception"

    def __init__(self, weights: str | Path | None = None, sha256: str | None = None, device: str = "cpu",
                 batch_size: int = 16, use_label: bool = False) -> None:
        del use_label  # image features only
        if weights is None:
            raise ConfigError("the inception extractor needs a local weights file (--inception-weights); "
                              "medgan never downloads weights")
        self.weights = Path(weights)
        self.sha256 = verify_weights(self.weights, sha256)
        try:
            from torchvision.models import inception_v3
        except ImportError:
            raise ConfigError("the inception extractor needs torchvision, which is not installed "
                              "(pip install torchvision), or use --extractor radiomics") from None
        import torch

        state = _load_state_dict(self.weights)
        aux = any(key.startswith("AuxLogits.") for key in state)
        with torch.device("meta"):  # no random initialisation: every tensor comes from the file
            model = inception_v3(weights=None, aux_logits=aux, init_weights=False, transform_input=False)
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise DataError(self.weights, f"not torchvision inception_v3 weights ({first})") from None
        model.fc = torch.nn.Identity()
        self.model = model.eval().to(device)
        self.device = device
        self.batch_size = batch_size

    def _plane_features(self, planes: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        out = []
        with torch.inference_mode():
            for start in range(0, len(planes), self.batch_size):
                batch = np.stack([np.clip(p, 0.0, 1.0) for p in planes[start:start + self.batch_size]])
                x = torch.from_numpy(batch.astype(np.float32))[:, None].repeat(1, 3, 1, 1)
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                x = ((x - mean) / std).to(self.device)
                out.append(self.model(x).float().cpu().numpy())
        return np.concatenate(out)

    def __call__(self, images: list[np.ndarray], labels: list[np.ndarray | None] | None = None) -> np.ndarray:
        rows = []
        for image in images:
            planes = [p for channel in image for p in mid_planes(channel)]
            rows.append(self._plane_features(planes).mean(axis=0))
        return np.stack(rows).astype(np.float64)
