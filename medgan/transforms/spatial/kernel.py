"""The fast CPU resampler: one pass per output voxel, no dense sampling grid in memory.

For every output voxel ``o`` the input position is ``i = M @ o + b + D(o)``, where ``M``/``b`` fold
rotation, scaling, shear, translation and flips (in voxel units), and ``D`` is the elastic
displacement, a cubic B-spline of a coarse grid of control coefficients evaluated on the fly and
separably (the x and y factors are reduced once per row, so each voxel costs 12 multiply-adds for
the field). The image is sampled trilinearly and the label by nearest neighbour in its own integer
dtype (or by the label with the largest trilinear weight, which equals one-hot linear + argmax), in
the same loop. Compiled with numba (``cache=True``: the first call of a dtype combination compiles,
later processes load the cached machine code).

Arrays are embedded in 3D: a 2D image ``(C, X, Y)`` is passed as ``(C, X, Y, 1)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

LABEL_NONE, LABEL_NEAREST, LABEL_LINEAR = 0, 1, 2


def _body(image, label, out_image, out_label, M, b, coef, has_field, wx_i, wx_w, wy_i, wy_w, wz_i, wz_w,
          border, label_mode, x):  # pragma: no cover - compiled
    C = image.shape[0]
    L = label.shape[0]
    ny, nz = out_image.shape[2], out_image.shape[3]
    if C == 0:
        ny, nz = out_label.shape[2], out_label.shape[3]
    sx, sy, sz = image.shape[1], image.shape[2], image.shape[3]
    if C == 0:
        sx, sy, sz = label.shape[1], label.shape[2], label.shape[3]
    ky, kz = coef.shape[1], coef.shape[2]
    cx = np.zeros((ky, kz, 3), dtype=np.float64)
    cxy = np.zeros((kz, 3), dtype=np.float64)
    if has_field:
        j0 = wx_i[x]
        for a in range(ky):
            for c in range(kz):
                for d in range(3):
                    s = 0.0
                    for j in range(4):
                        s += wx_w[x, j] * coef[j0 + j, a, c, d]
                    cx[a, c, d] = s
    lab_vals = np.zeros(8, dtype=np.int64)
    lab_w = np.zeros(8, dtype=np.float64)
    for y in range(ny):
        if has_field:
            j0 = wy_i[y]
            for c in range(kz):
                for d in range(3):
                    s = 0.0
                    for j in range(4):
                        s += wy_w[y, j] * cx[j0 + j, c, d]
                    cxy[c, d] = s
        px = M[0, 0] * x + M[0, 1] * y + b[0]
        py = M[1, 0] * x + M[1, 1] * y + b[1]
        pz = M[2, 0] * x + M[2, 1] * y + b[2]
        for z in range(nz):
            fx = px + M[0, 2] * z
            fy = py + M[1, 2] * z
            fz = pz + M[2, 2] * z
            if has_field:
                j0 = wz_i[z]
                for j in range(4):
                    w = wz_w[z, j]
                    fx += w * cxy[j0 + j, 0]
                    fy += w * cxy[j0 + j, 1]
                    fz += w * cxy[j0 + j, 2]
            if border:
                fx = min(max(fx, 0.0), sx - 1.0)
                fy = min(max(fy, 0.0), sy - 1.0)
                fz = min(max(fz, 0.0), sz - 1.0)
            x0 = int(math.floor(fx))
            y0 = int(math.floor(fy))
            z0 = int(math.floor(fz))
            tx = fx - x0
            ty = fy - y0
            tz = fz - z0
            inside = x0 >= 0 and y0 >= 0 and z0 >= 0 and x0 + 1 < sx and y0 + 1 < sy and z0 + 1 < sz
            if C > 0:
                if inside:
                    for ch in range(C):
                        v00 = image[ch, x0, y0, z0] * (1 - tz) + image[ch, x0, y0, z0 + 1] * tz
                        v01 = image[ch, x0, y0 + 1, z0] * (1 - tz) + image[ch, x0, y0 + 1, z0 + 1] * tz
                        v10 = image[ch, x0 + 1, y0, z0] * (1 - tz) + image[ch, x0 + 1, y0, z0 + 1] * tz
                        v11 = (image[ch, x0 + 1, y0 + 1, z0] * (1 - tz)
                               + image[ch, x0 + 1, y0 + 1, z0 + 1] * tz)
                        v0 = v00 * (1 - ty) + v01 * ty
                        v1 = v10 * (1 - ty) + v11 * ty
                        out_image[ch, x, y, z] = v0 * (1 - tx) + v1 * tx
                else:
                    for ch in range(C):
                        acc = 0.0
                        for corner in range(8):
                            xi = x0 + (corner >> 2)
                            yi = y0 + ((corner >> 1) & 1)
                            zi = z0 + (corner & 1)
                            if xi < 0 or yi < 0 or zi < 0 or xi >= sx or yi >= sy or zi >= sz:
                                continue
                            w = (tx if corner >> 2 else 1 - tx) * (ty if (corner >> 1) & 1 else 1 - ty) * (
                                tz if corner & 1 else 1 - tz)
                            if w != 0.0:
                                acc += w * image[ch, xi, yi, zi]
                        out_image[ch, x, y, z] = acc
            if L > 0:
                if label_mode == LABEL_NEAREST:
                    xi = int(math.floor(fx + 0.5))
                    yi = int(math.floor(fy + 0.5))
                    zi = int(math.floor(fz + 0.5))
                    if xi < 0 or yi < 0 or zi < 0 or xi >= sx or yi >= sy or zi >= sz:
                        for ch in range(L):
                            out_label[ch, x, y, z] = 0
                    else:
                        for ch in range(L):
                            out_label[ch, x, y, z] = label[ch, xi, yi, zi]
                else:
                    for ch in range(L):
                        n = 0
                        for corner in range(8):
                            xi = x0 + (corner >> 2)
                            yi = y0 + ((corner >> 1) & 1)
                            zi = z0 + (corner & 1)
                            if xi < 0 or yi < 0 or zi < 0 or xi >= sx or yi >= sy or zi >= sz:
                                continue
                            w = (tx if corner >> 2 else 1 - tx) * (ty if (corner >> 1) & 1 else 1 - ty) * (
                                tz if corner & 1 else 1 - tz)
                            if w <= 0.0:
                                continue
                            v = np.int64(label[ch, xi, yi, zi])
                            found = False
                            for k in range(n):
                                if lab_vals[k] == v:
                                    lab_w[k] += w
                                    found = True
                                    break
                            if not found:
                                lab_vals[n] = v
                                lab_w[n] = w
                                n += 1
                        best = 0
                        best_w = -1.0
                        for k in range(n):
                            if lab_w[k] > best_w or (lab_w[k] == best_w and lab_vals[k] < best):
                                best = lab_vals[k]
                                best_w = lab_w[k]
                        out_label[ch, x, y, z] = best


_body_jit = numba.njit(cache=True, nogil=True, inline="always")(_body)


@numba.njit(parallel=True, cache=True, nogil=True)
def _resample_parallel(image, label, out_image, out_label, M, b, coef, has_field, wx_i, wx_w, wy_i, wy_w,
                       wz_i, wz_w, border, label_mode):  # pragma: no cover - compiled
    nx = out_image.shape[1] if image.shape[0] > 0 else out_label.shape[1]
    for x in prange(nx):
        _body_jit(image, label, out_image, out_label, M, b, coef, has_field, wx_i, wx_w, wy_i, wy_w,
                  wz_i, wz_w, border, label_mode, x)


@numba.njit(cache=True, nogil=True)
def _resample_serial(image, label, out_image, out_label, M, b, coef, has_field, wx_i, wx_w, wy_i, wy_w,
                     wz_i, wz_w, border, label_mode):  # pragma: no cover - compiled
    nx = out_image.shape[1] if image.shape[0] > 0 else out_label.shape[1]
    for x in range(nx):
        _body_jit(image, label, out_image, out_label, M, b, coef, has_field, wx_i, wx_w, wy_i, wy_w,
                  wz_i, wz_w, border, label_mode, x)


def bspline_weights(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-spline first taps ``(n,)`` and weights ``(n, 4)``: ``k`` coefficients over ``n`` voxels."""
    u = np.arange(n, dtype=np.float64) * ((k - 3) / (n - 1)) if n > 1 else np.zeros(n)
    j0 = np.minimum(np.floor(u).astype(np.int64), k - 4)
    t = u - j0
    w = np.stack([(1 - t) ** 3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
                  t**3 / 6], axis=1)
    return np.ascontiguousarray(j0), np.ascontiguousarray(w)


def resample_numba(image: np.ndarray | None, label: np.ndarray | None, shape: tuple[int, int, int],
                   M: np.ndarray, b: np.ndarray, coef: np.ndarray | None, border: bool = False,
                   label_linear: bool = False, parallel: bool = True
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Resample an image ``(C, X, Y, Z)`` (float32/64) and a label ``(L, X, Y, Z)`` (integer) in one pass.

    Args:
        image, label: arrays embedded in 3D, or ``None``.
        shape: output spatial shape.
        M, b: ``(3, 3)`` and ``(3,)`` voxel-index map (output index -> input index).
        coef: ``(Kx, Ky, Kz, 3)`` B-spline coefficients of the displacement in input voxels, or ``None``.
        border: clamp coordinates to the volume (``True``) or read zeros outside (``False``).
        label_linear: label by largest trilinear weight instead of nearest neighbour.
        parallel: use numba's thread pool (``False`` inside worker processes).

    Returns:
        ``(image_out, label_out)`` with the input dtypes (``None`` where the input was ``None``).
    """
    ref = image if image is not None else label
    assert ref is not None
    img = image if image is not None else np.zeros((0, 1, 1, 1), np.float32)
    lab = label if label is not None else np.zeros((0, 1, 1, 1), np.uint8)
    out_img = np.empty((img.shape[0], *shape), dtype=img.dtype)
    out_lab = np.empty((lab.shape[0], *shape), dtype=lab.dtype)
    has_field = coef is not None
    field = (np.ascontiguousarray(coef, dtype=np.float64) if has_field
             else np.zeros((4, 4, 4, 3), dtype=np.float64))
    weights = [bspline_weights(n, k) for n, k in zip(shape, field.shape[:3], strict=False)]
    run = _resample_parallel if parallel else _resample_serial
    run(np.ascontiguousarray(img), np.ascontiguousarray(lab), out_img, out_lab,
        np.ascontiguousarray(M, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64), field,
        has_field,
        weights[0][0], weights[0][1], weights[1][0], weights[1][1], weights[2][0], weights[2][1],
        bool(border), LABEL_LINEAR if label_linear else LABEL_NEAREST)
    return (out_img if image is not None else None), (out_lab if label is not None else None)
