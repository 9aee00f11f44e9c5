"""One sampling for all spatial transforms of a call: the plan, and the two resamplers that execute it.

A :class:`SamplingPlan` maps each output voxel to an input position in physical (mm) space:

``q = A @ (p + d(p)) + t``, with ``p = S @ (o - c)`` and input index ``i = S^-1 @ q + c``,

where ``o`` is the output voxel index, ``S = diag(spacing)``, ``c`` the volume centre, ``A`` the
composed rotation / scaling / shear / flip (pull-back, physical), ``t`` the translation (mm) and
``d`` the elastic displacement (mm), a cubic B-spline of coarse control coefficients. Working in mm
makes rotations and elastic magnitudes right for anisotropic voxels.

Two executors give the same result: :func:`~medgan.transforms.spatial.kernel.resample_numba` (CPU,
one pass, no dense grid) and :func:`resample_torch` (torch ``grid_sample`` on a dense grid; the
reference implementation and the path for tensors on a GPU).
"""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medgan.transforms.base import restore_dtype
from medgan.transforms.spatial.kernel import bspline_weights, resample_numba

#: outputs with fewer voxels are resampled on one thread
PARALLEL_MIN_VOXELS = 32768
_PARALLEL_LOCK = threading.Lock()


@dataclass
class SamplingPlan:
    """The composed spatial transform of one call, in physical space (always embedded in 3D).

    Attributes:
        spatial_dims: 2 or 3 (a 2D plan has the identity on its third axis).
        shape: spatial shape (3D-embedded) of input and output.
        spacing: voxel size in mm, 3D-embedded.
        matrix: ``(3, 3)`` physical pull-back matrix ``A``.
        translation: ``(3,)`` mm.
        coefficients: ``(Kx, Ky, Kz, 3)`` elastic B-spline coefficients in mm (output frame) or ``None``.
        label_swap: label value map applied to label outputs (left/right swap after a flip).
    """

    spatial_dims: int
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    coefficients: np.ndarray | None = None
    label_swap: dict[int, int] = field(default_factory=dict)

    @classmethod
    def identity(cls, spatial_shape: tuple[int, ...], spacing: tuple[float, ...]) -> SamplingPlan:
        """The identity plan for a 2D or 3D spatial shape."""
        dims = len(spatial_shape)
        shape = tuple(int(n) for n in spatial_shape) + (1,) * (3 - dims)
        sp = tuple(float(s) for s in spacing) + (1.0,) * (3 - dims)
        return cls(dims, shape, sp)  # type: ignore[arg-type]

    def then_affine(self, matrix: np.ndarray, translation: np.ndarray) -> None:
        """Compose a pull-back affine ``q -> matrix @ q + translation`` applied before the current one."""
        self.translation = self.matrix @ np.asarray(translation, float) + self.translation
        self.matrix = self.matrix @ np.asarray(matrix, float)

    def is_identity(self) -> bool:
        """True when resampling would return the input unchanged."""
        return (np.array_equal(self.matrix, np.eye(3)) and not np.any(self.translation)
                and (self.coefficients is None or not np.any(self.coefficients)))

    def voxel_map(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(M, b, D)``: input index ``= M @ o + b + D(o)`` with ``D`` coefficients in input voxels."""
        s = np.asarray(self.spacing, float)
        c = (np.asarray(self.shape, float) - 1) / 2
        M = (self.matrix * s[None, :]) / s[:, None]
        b = c - M @ c + self.translation / s
        coef = None
        if self.coefficients is not None and np.any(self.coefficients):
            coef = np.einsum("ij,xyzj->xyzi", self.matrix / s[:, None], self.coefficients)
        return M, b, coef

    def dense_grid(self) -> np.ndarray:
        """Input index of every output voxel, ``(X, Y, Z, 3)`` float64 (the reference; large)."""
        M, b, coef = self.voxel_map()
        axes = [np.arange(n, dtype=np.float64) for n in self.shape]
        o = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        grid = o @ M.T + b
        if coef is not None:
            w = []
            for n, k in zip(self.shape, coef.shape[:3], strict=False):
                idx, wt = bspline_weights(n, k)
                dense = np.zeros((n, k))
                for j in range(4):
                    np.add.at(dense, (np.arange(n), idx + j), wt[:, j])
                w.append(dense)
            grid += np.einsum("xa,yb,zc,abcd->xyzd", w[0], w[1], w[2], coef)
        return grid


def _in_worker_process() -> bool:
    return multiprocessing.parent_process() is not None


def resample(value: Any, plan: SamplingPlan, mode: str, padding: str = "zeros",
             backend: str = "auto") -> np.ndarray | torch.Tensor:
    """Resample one array / tensor ``(C, *spatial)`` through ``plan``.

    Args:
        value: numpy array or torch tensor, channels first.
        plan: the composed transform.
        mode: ``linear``, ``bspline`` (images), ``nearest`` or ``label_linear`` (labels; one-hot
            linear then argmax).
        padding: ``zeros`` or ``border`` for positions outside the input.
        backend: ``auto`` (numba on CPU, torch on CUDA), ``numba`` or ``torch``.

    Returns:
        The resampled array, same type, shape, dtype and device as ``value``.
    """
    return resample_pair(value if mode in ("linear", "bspline") else None,
                         value if mode in ("nearest", "label_linear") else None,
                         plan, mode if mode in ("linear", "bspline") else "linear",
                         mode if mode in ("nearest", "label_linear") else "nearest", padding, backend)[
        0 if mode in ("linear", "bspline") else 1]


def resample_pair(image: Any, label: Any, plan: SamplingPlan, image_mode: str = "linear",
                  label_mode: str = "nearest", padding: str = "zeros", backend: str = "auto"
                  ) -> tuple[Any, Any]:
    """Resample an image and a label (either may be ``None``) through ``plan`` in one pass."""
    ref = image if image is not None else label
    on_cuda = isinstance(ref, torch.Tensor) and ref.device.type == "cuda"
    if backend == "auto":
        backend = "torch" if on_cuda else "numba"
    out_image = out_label = None
    if image is not None and image_mode == "bspline":
        out_image = _resample_bspline(image, plan, padding)
        image = None
    if backend == "torch":
        if image is not None:
            out_image = resample_torch(image, plan, image_mode, padding)
        if label is not None:
            out_label = resample_torch(label, plan, label_mode, padding)
        return out_image, out_label
    img_np = None if image is None else _numpy(image)
    lab_np = None if label is None else _numpy(label)
    img_dtype = None if img_np is None else img_np.dtype
    if img_np is not None and img_np.dtype not in (np.float32, np.float64):
        img_np = img_np.astype(np.float32)
    lab_dtype = None if lab_np is None else lab_np.dtype
    if lab_np is not None and not np.issubdtype(lab_np.dtype, np.integer):
        # float label maps (MONAI's LoadImaged default) hold integers: sample them as integers
        lab_np = np.rint(lab_np).astype(np.int32)
    M, b, coef = plan.voxel_map()
    embed = (slice(None),) * (plan.spatial_dims + 1) + (None,) * (3 - plan.spatial_dims)
    # numba's thread pool costs more than it saves on small images (ROIs, 2D slices)
    parallel = (int(np.prod(plan.shape)) >= PARALLEL_MIN_VOXELS and not _in_worker_process()
                and _PARALLEL_LOCK.acquire(blocking=False))
    try:
        res_img, res_lab = resample_numba(
            None if img_np is None else img_np[embed], None if lab_np is None else lab_np[embed],
            plan.shape, M, b, coef, border=padding == "border", label_linear=label_mode == "label_linear",
            parallel=parallel)
    finally:
        if parallel:
            _PARALLEL_LOCK.release()
    squeeze = (slice(None),) * (plan.spatial_dims + 1) + (0,) * (3 - plan.spatial_dims)
    if res_img is not None:
        res_img = res_img[squeeze]
        if res_img.dtype != img_dtype:
            res_img = restore_dtype(res_img, img_dtype)
        out_image = _like(res_img, image)
    if res_lab is not None:
        res_lab = _apply_swap(res_lab[squeeze], plan.label_swap).astype(lab_dtype, copy=False)
        out_label = _like(res_lab, label)
    return out_image, out_label


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().as_subclass(torch.Tensor).numpy()
    return np.asarray(value)


def _like(result: np.ndarray, original: Any) -> Any:
    return torch.from_numpy(result) if isinstance(original, torch.Tensor) else result


def _apply_swap(label: np.ndarray | torch.Tensor, swap: dict[int, int]) -> np.ndarray | torch.Tensor:
    if not swap:
        return label
    out = label.clone() if isinstance(label, torch.Tensor) else label.copy()
    for src, dst in swap.items():
        out[label == src] = dst
    return out


def resample_torch(value: Any, plan: SamplingPlan, mode: str = "linear", padding: str = "zeros"
                   ) -> torch.Tensor | np.ndarray:
    """Reference resampler: a dense grid and ``torch.nn.functional.grid_sample`` (CPU or CUDA).

    Labels are sampled as float and cast back (``nearest``), or one-hot, linear, argmax
    (``label_linear``). Returns the input's type, dtype and device.
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach().as_subclass(torch.Tensor)
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    dtype, device, dims = tensor.dtype, tensor.device, plan.spatial_dims
    grid = plan.dense_grid()[..., :dims] if dims == 3 else plan.dense_grid()[:, :, 0, :2]
    size = np.asarray(plan.shape[:dims], float)
    norm = np.where(size > 1, 2 * grid / np.maximum(size - 1, 1) - 1, 0.0)
    norm = torch.from_numpy(norm[..., ::-1].copy()).to(device=device, dtype=torch.float32)[None]
    pad = "border" if padding == "border" else "zeros"
    if mode == "label_linear":
        values = torch.unique(tensor)
        onehot = torch.stack([(tensor == v).float() for v in values], dim=1)  # (C, K, ...)
        out = torch.stack([F.grid_sample(onehot[c][None], norm, mode="bilinear", padding_mode=pad,
                                         align_corners=True)[0] for c in range(tensor.shape[0])])
        result = values[out.argmax(dim=1)].to(dtype)
    else:
        out = F.grid_sample(tensor.float()[None], norm, mode="nearest" if mode == "nearest" else "bilinear",
                            padding_mode=pad, align_corners=True)[0]
        if mode == "nearest":
            result = out.to(dtype)
        else:
            result = restore_dtype(out.to(torch.float64) if dtype == torch.float64 else out, dtype)
    if mode in ("nearest", "label_linear"):
        result = _apply_swap(result, plan.label_swap)
    return result if isinstance(value, torch.Tensor) else result.cpu().numpy()


def _resample_bspline(value: Any, plan: SamplingPlan, padding: str) -> Any:
    """Cubic B-spline image interpolation (scipy ``map_coordinates`` on a dense grid; CPU)."""
    from scipy.ndimage import map_coordinates

    array = _numpy(value)
    grid = plan.dense_grid()[..., : plan.spatial_dims]
    if plan.spatial_dims == 2:
        grid = grid[:, :, 0]
    coords = np.moveaxis(grid, -1, 0)
    mode = "nearest" if padding == "border" else "constant"
    out = np.stack([map_coordinates(ch.astype(np.float32), coords, order=3, mode=mode, cval=0.0)
                    for ch in array])
    out = restore_dtype(out, array.dtype)
    if isinstance(value, torch.Tensor):
        return torch.from_numpy(out).to(value.device)
    return out
