"""The lesion GAN's mask channel: label values <-> one channel in [-1, 1], decoded exactly.

The encoding is fixed at training time from the label values found in the training patches and
recorded in the run's config (``data.label_values``), so synthesis decodes with exactly the mapping
the generator learnt, whatever the label values are (BraTS 1/2/3, the older 1/2/4, one class...).

- ``labels`` mode: the ``k``-th of the sorted values (0 included) is encoded as the ``k``-th of
  ``len(values)`` evenly spaced levels from -1 to 1; decoding takes the nearest level. Every decoded
  value is one of the training values.
- ``binary`` mode: lesion 1, background -1; decoding writes the lesion's class where the channel is
  positive.

Example:
    >>> codec = MaskCodec("labels", [0, 1, 2, 3])
    >>> codec.decode(codec.encode(np.array([0, 1, 2, 3]))).tolist()
    [0, 1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MaskCodec:
    """Encode label maps into the generator's mask channel and decode them back.

    Args:
        mode: ``labels`` (multi-label lesions) or ``binary`` (one class per lesion).
        values: the label values of the training patches, 0 included (``labels`` mode); ignored in
            ``binary`` mode.
    """

    def __init__(self, mode: str, values: Sequence[int] = (0, 1)) -> None:
        if mode not in ("labels", "binary"):
            raise ValueError(f"unknown mask mode {mode!r}")
        self.mode = mode
        self.values = np.asarray(sorted({0, *(int(v) for v in values)}), np.int64) if mode == "labels" \
            else np.asarray([0, 1], np.int64)
        self.levels = np.linspace(-1.0, 1.0, len(self.values)).astype(np.float32)

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """Integer label map -> float32 channel in [-1, 1] of the same shape.

        Raises:
            ValueError: a label value the codec does not know (``labels`` mode).
        """
        labels = np.asarray(labels)
        if self.mode == "binary":
            return np.where(labels > 0, 1.0, -1.0).astype(np.float32)
        index = np.searchsorted(self.values, labels)
        index = np.clip(index, 0, len(self.values) - 1)
        if not np.array_equal(self.values[index], labels):
            unknown = sorted(set(np.unique(labels).tolist()) - set(self.values.tolist()))
            raise ValueError(f"label value {unknown[0]} is not among the encoded values {self.values.tolist()}")
        return self.levels[index]

    def decode(self, channel: np.ndarray, lesion_class: int = 1) -> np.ndarray:
        """Channel in [-1, 1] -> int16 label map; ``lesion_class`` is written in ``binary`` mode."""
        channel = np.asarray(channel, np.float32)
        if self.mode == "binary":
            return np.where(channel > 0, lesion_class, 0).astype(np.int16)
        nearest = np.abs(channel[..., None] - self.levels).argmin(-1)
        return self.values[nearest].astype(np.int16)
