"""Input checks of translation runs: a CT window that excludes the data, and an input of another
modality than the run translates (CT fed to an MR -> CT run, MR fed as CT). Each raises a
:class:`~medgan.errors.DataError` naming the file or case, before anything is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medgan.errors import DataError
from medgan.transforms.modality import CTWindow, MRScale, is_ct

#: a CT window must hold at least this fraction of the voxels strictly inside it
MIN_INSIDE_WINDOW = 0.01
#: CT in HU has air: its 1st percentile lies below this (MR intensities are not negative)
CT_AIR_HU = -500.0
#: recognised MR modality names (a single channel of another recognised name is not silently translated)
MR_NAMES = {"t1", "t1n", "t1w", "t1c", "t1ce", "t1gd", "t2", "t2w", "t2f", "flair", "pd", "dwi", "adc", "mr", "mri"}


def check_ct_window(scale: Any, volume: np.ndarray, where: Any) -> None:
    """Refuse CT whose voxels almost all fall outside the CT window (everything would be clipped).

    Raises:
        DataError: fewer than :data:`MIN_INSIDE_WINDOW` of the voxels lie strictly inside the window.
    """
    if not isinstance(scale, CTWindow):
        return
    values = np.asarray(volume)
    inside = float(np.mean((values > scale.low) & (values < scale.high))) if values.size else 0.0
    if inside < MIN_INSIDE_WINDOW:
        raise DataError(where, f"the CT window {scale.low:g},{scale.high:g} HU excludes the data (its values span "
                               f"{float(values.min()):g}..{float(values.max()):g}; {inside:.1%} inside); "
                               "set --ct-window / data.*.intensity.window to cover it")


def check_input(scale: Any, volume: np.ndarray, where: Any, modality: str = "") -> None:
    """Refuse an input of the wrong kind for the run's source mapping ``scale``.

    CT -> anything runs need CT in HU (air below -500 HU, and the window must hold the data); MR ->
    anything runs refuse a channel named like CT or holding CT-like air (1st percentile below -500).

    Raises:
        DataError: naming ``where`` and the mismatch.
    """
    values = np.asarray(volume, np.float64)
    low = float(np.percentile(values, 1)) if values.size else 0.0
    if isinstance(scale, CTWindow):
        if modality and modality.lower() in MR_NAMES:
            raise DataError(where, f"channel {modality!r} is MR, but the run translates CT")
        if low > CT_AIR_HU:
            raise DataError(where, f"does not look like CT in HU (1st percentile {low:g}, no air below "
                                   f"{CT_AIR_HU:g}); the run translates CT")
        check_ct_window(scale, values, where)
    elif isinstance(scale, MRScale):
        if modality and is_ct(modality):
            raise DataError(where, f"channel {modality!r} is CT, but the run translates MR")
        if low < CT_AIR_HU:
            raise DataError(where, f"looks like CT in HU (1st percentile {low:g}), but the run translates MR")


def refuse_other_modality(channel: str, source_modality: str, where: Any) -> None:
    """Refuse translating a single channel recognisably of another modality than the run's source.

    Raises:
        DataError: ``channel`` is a recognised modality name (MR or CT) and differs from the source.
    """
    known = channel.lower() in MR_NAMES or is_ct(channel)
    if known and channel.lower() != source_modality.lower():
        raise DataError(where, f"has only channel {channel!r}, but the run translates {source_modality!r}; "
                               "pass --modality to translate it anyway")
