"""Whole-image inference of a fully convolutional image-to-image network (a translation generator):
2D networks run slice by slice along the last (axial) axis, each slice padded to the network's size
multiple; 3D networks run MONAI's ``sliding_window_inference`` with overlapping windows blended by a
Gaussian weight, so volumes of any size come out whole and without seams.

Example:
    >>> import torch
    >>> identity = torch.nn.Conv3d(1, 1, 1, bias=False)
    >>> _ = torch.nn.init.ones_(identity.weight)
    >>> volume = torch.rand(1, 20, 18, 9)
    >>> out = translate_tensor(identity, volume, spatial_dims=3, roi_size=8, divisor=1)
    >>> bool(torch.allclose(out, volume, atol=1e-5))
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: relative overlap of neighbouring 3D windows
DEFAULT_OVERLAP = 0.5


def _pad_to_multiple(x: torch.Tensor, divisor: int, fill: float) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pad the spatial axes of ``(N, C, *S)`` at their end to multiples of ``divisor``."""
    sizes = x.shape[2:]
    pads: list[int] = []
    for size in reversed(sizes):
        pads += [0, (-size) % divisor]
    return F.pad(x, pads, value=fill), tuple(sizes)


@torch.no_grad()
def translate_tensor(network: nn.Module, volume: torch.Tensor, spatial_dims: int, roi_size: int, divisor: int,
                     overlap: float = DEFAULT_OVERLAP, batch_size: int = 4, fill: float = -1.0) -> torch.Tensor:
    """Run ``network`` over a whole image in the network range.

    Args:
        network: the generator (already on its device, in eval mode).
        volume: ``(C, X, Y[, Z])`` in [-1, 1], on the CPU or the network's device.
        spatial_dims: 2 (slice-wise along the last axis of a 3D volume, or the 2D image itself) or 3
            (sliding windows).
        roi_size: 3D window edge (the training patch size).
        divisor: the generator's size multiple (slices are padded to it).
        overlap: relative overlap of 3D windows.
        batch_size: slices or windows per forward pass.
        fill: value of the padding (air: -1).

    Returns:
        ``(C_out, X, Y[, Z])`` float32 on the CPU.
    """
    device = next(network.parameters()).device
    if spatial_dims == 3:
        from monai.inferers import sliding_window_inference

        if volume.dim() != 4:
            raise ValueError(f"a 3D model needs a (C, X, Y, Z) volume, found shape {tuple(volume.shape)}")
        out = sliding_window_inference(volume[None].float(), roi_size=(roi_size,) * 3, sw_batch_size=batch_size,
                                       predictor=network, overlap=overlap, mode="gaussian",
                                       padding_mode="constant", cval=fill, sw_device=device, device="cpu")
        return torch.as_tensor(out)[0].float()
    if volume.dim() == 3:
        slices = volume[None]
    elif volume.dim() == 4:
        slices = volume.permute(3, 0, 1, 2)
    else:
        raise ValueError(f"expected a (C, X, Y[, Z]) image, found shape {tuple(volume.shape)}")
    outputs = []
    for start in range(0, slices.shape[0], batch_size):
        chunk, sizes = _pad_to_multiple(slices[start:start + batch_size].float().to(device), divisor, fill)
        outputs.append(network(chunk)[:, :, :sizes[0], :sizes[1]].float().cpu())
    result = torch.cat(outputs, 0)
    return result[0] if volume.dim() == 3 else result.permute(1, 2, 3, 0)
