"""The MNI ICBM152 2009a tissue maps every simulated head is warped from, and the compact copy medgan ships.

``scripts/make_sample_data.py`` reads the 1 mm T1, GM and WM templates from nilearn's wheel and
block-averages them to 2 mm. medgan ships those 2 mm maps, exactly, in ``icbm152_2mm.nii.gz`` next
to this file (about 1 MB), so ``medgan sample-data`` needs no nilearn: an int16 NIfTI of five
volumes on the 2 mm grid, the 2x2x2 block sums of (T1 > 0), GM and WM (0-255 each), and, for GM
and WM, the float32 rounding of the script's averaging in units in the last place (-3..3), so the
float32 maps are rebuilt bit for bit. Both sources give the same :class:`Template`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from medgan.sample_data.files import write_nifti_gz
from medgan.sample_data.geometry import TEMPLATE_FILES

#: the shipped 2 mm atlas (made by ``python scripts/make_sample_data.py --atlas``)
ATLAS_PATH = Path(__file__).with_name("icbm152_2mm.nii.gz")
#: maps a 2 mm block index I to the 1 mm voxels 2I and 2I + 1 (exact in floating point)
_BLOCK = np.diag([2.0, 2.0, 2.0, 1.0]) + np.array([[0, 0, 0, 0.5], [0, 0, 0, 0.5], [0, 0, 0, 0.5], [0, 0, 0, 0]])


@dataclass(frozen=True)
class Template:
    """ICBM152 maps resampled to a padded 2 mm grid.

    Attributes:
        maps: (5, X, Y, Z) float32: grey matter, white matter and CSF fractions, brain fraction,
            and the signed distance (mm, negative inside) to a smooth hull around the brain.
        world_to_voxel: 4x4 affine from MNI world mm to indices of ``maps``.
    """

    maps: np.ndarray
    world_to_voxel: np.ndarray


def template_dir() -> Path:
    """Locate the templates inside the installed nilearn wheel without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nilearn is not installed; it ships the ICBM152 templates (pip install nilearn)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [name for name in TEMPLATE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"nilearn at {folder} lacks the ICBM152 templates {missing}")
    return folder


def block_averages(folder: Path | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The 1 mm templates block-averaged to 2 mm (float32, as the shipped data was made).

    Returns:
        ``({"t1": brain fraction, "gm": ..., "wm": ...}, 1 mm affine)``.
    """
    folder = folder or template_dir()
    loaded = {key: nib.load(folder / name) for key, name in TEMPLATE_FILES.items()}
    affine = loaded["t1"].affine
    volumes = {}
    for key, img in loaded.items():
        raw = np.asarray(img.dataobj)
        # the nilearn T1 template is brain-extracted: every non-zero voxel is brain
        data = (raw > 0).astype(np.float32) if key == "t1" else raw.astype(np.float32) / np.float32(255.0)
        data = np.pad(data, [(0, s % 2) for s in data.shape])  # even shape for 2x2x2 blocks
        data = data[0::2] + data[1::2]  # 2x2x2 block sums, one axis at a time
        data = data[:, 0::2] + data[:, 1::2]
        data = data[:, :, 0::2] + data[:, :, 1::2]
        volumes[key] = data / np.float32(8.0)
    return volumes, affine


def template_from_blocks(volumes: dict[str, np.ndarray], affine: np.ndarray) -> Template:
    """Derive CSF, brain and head-distance maps from the 2 mm block averages and pad them.

    The maps are padded by 24 mm (the bottom by repeating the lowest slice, so the brainstem runs
    on out of the field of view); a hull of the brain gives the signed distance used to build the
    CSF rim, skull and scalp of each subject.
    """
    brain = volumes["t1"]
    gm = np.minimum(volumes["gm"], brain)
    wm = np.minimum(volumes["wm"], brain - gm)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    pad = 12  # 2 mm voxels: 24 mm, more than the thickest CSF rim + skull + scalp
    stack = []
    for volume in (gm, wm, csf, brain):
        padded = np.pad(volume, ((pad, pad), (pad, pad), (0, pad)))
        stack.append(np.pad(padded, ((0, 0), (0, 0), (pad, 0)), mode="edge"))
    stack.append(hull_signed_distance(stack[3]))
    maps = np.stack(stack).astype(np.float32)
    # 2 mm voxel I averages 1 mm voxels 2I and 2I + 1 (after padding by `pad` 2 mm voxels)
    voxel2_to_voxel1 = np.diag([2.0, 2.0, 2.0, 1.0])
    voxel2_to_voxel1[:3, 3] = 0.5 - 2 * pad
    world_to_voxel = np.linalg.inv(affine @ voxel2_to_voxel1)
    return Template(maps=maps, world_to_voxel=world_to_voxel)


def load_template(folder: Path | None = None) -> Template:
    """The template from nilearn's ICBM152 files (``folder``, default: nilearn's ``datasets/data``)."""
    return template_from_blocks(*block_averages(folder))


def hull_signed_distance(brain: np.ndarray) -> np.ndarray:
    """Signed distance (mm, negative inside) to a smooth hull of a 2 mm brain-fraction map.

    The hull (brain closed by 10 mm, holes filled) and its distance map are computed at 4 mm,
    where distance transforms are cheap, then interpolated back to 2 mm and smoothed.
    """
    even = np.pad(brain, [(0, s % 2) for s in brain.shape])
    coarse = even.reshape(even.shape[0] // 2, 2, even.shape[1] // 2, 2, even.shape[2] // 2, 2).mean(axis=(1, 3, 5))
    radius_vox = 2.5  # 10 mm closing removes sulci and the interhemispheric notch from the hull
    dilated = ndimage.distance_transform_edt(coarse <= 0.5) <= radius_vox
    hull = ndimage.binary_fill_holes(ndimage.distance_transform_edt(dilated) > radius_vox)
    signed = 4.0 * (ndimage.distance_transform_edt(~hull) - ndimage.distance_transform_edt(hull))
    # 4 mm voxel J averages 2 mm voxels 2J and 2J + 1, so 2 mm voxel I sits at J = (I - 0.5) / 2
    fine = np.indices(brain.shape, dtype=np.float32).reshape(3, -1)
    upsampled = ndimage.map_coordinates(signed, (fine - 0.5) / 2.0, order=1, mode="nearest")
    return ndimage.gaussian_filter(upsampled.reshape(brain.shape), 1.0)


# ---------------------------------------------------------------------------------------------
# The shipped copy
# ---------------------------------------------------------------------------------------------
def _from_sums(sums: np.ndarray, scale: float) -> np.ndarray:
    return (sums.astype(np.float32) / np.float32(scale)) / np.float32(8.0)


def write_atlas(path: Path, folder: Path | None = None) -> None:
    """Write the compact, exact copy of the 2 mm block averages (see the module docstring)."""
    volumes, affine = block_averages(folder)
    sums, ulps = {}, {}
    for key, scale in (("t1", 1.0), ("gm", 255.0), ("wm", 255.0)):
        sums[key] = np.rint(volumes[key] * np.float32(8.0 * scale)).astype(np.int16)
        approx = _from_sums(sums[key], scale)
        ulps[key] = (volumes[key].view(np.int32).astype(np.int64) - approx.view(np.int32)).astype(np.int16)
        if not np.array_equal(_with_ulps(approx, ulps[key]), volumes[key]):
            raise RuntimeError(f"the {key} block averages do not round-trip through sums and ulps")
    if np.any(ulps["t1"]):
        raise RuntimeError("the brain-count map is not exact in float32")
    stack = np.stack([sums["t1"], sums["gm"], sums["wm"], ulps["gm"], ulps["wm"]], axis=-1)
    write_nifti_gz(path, stack, affine @ _BLOCK)


def _with_ulps(values: np.ndarray, ulps: np.ndarray) -> np.ndarray:
    return (values.view(np.int32) + ulps.astype(np.int32)).view(np.float32)


def read_atlas(path: Path = ATLAS_PATH) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The 2 mm block averages and the 1 mm template affine, rebuilt exactly from the shipped atlas."""
    img = nib.load(path)
    stack = np.asarray(img.dataobj)
    if stack.ndim != 4 or stack.shape[-1] != 5 or stack.dtype != np.int16:
        raise ValueError(f"{path}: expected an int16 NIfTI of five 3D volumes, found {stack.dtype} {stack.shape}")
    volumes = {"t1": _from_sums(stack[..., 0], 1.0),
               "gm": _with_ulps(_from_sums(stack[..., 1], 255.0), stack[..., 3]),
               "wm": _with_ulps(_from_sums(stack[..., 2], 255.0), stack[..., 4])}
    return volumes, img.affine @ np.linalg.inv(_BLOCK)


@functools.lru_cache(maxsize=1)
def shipped_template() -> Template:
    """The template rebuilt from the shipped atlas, once per process (no nilearn needed)."""
    return template_from_blocks(*read_atlas())
