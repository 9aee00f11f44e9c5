"""The image pool of Shrivastava et al. 2017 as CycleGAN uses it: the discriminator sees a mix of
the newest fakes and fakes from earlier steps, which damps oscillation."""

from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    """A buffer of up to ``size`` generated images (kept on the CPU).

    ``query`` returns, per image: while the pool is not full, the image itself (which is stored);
    then with probability 1/2 a random stored image (replaced by the new one), else the new image.
    ``size`` 0 returns the images unchanged.

    Args:
        size: pool capacity (50 in CycleGAN).

    Example:
        >>> pool = ImagePool(2)
        >>> out = pool.query(torch.zeros(3, 1, 4, 4), torch.Generator().manual_seed(0))
        >>> out.shape, len(pool.images)
        (torch.Size([3, 1, 4, 4]), 2)
    """

    def __init__(self, size: int = 50) -> None:
        if size < 0:
            raise ValueError(f"pool size must not be negative, found {size}")
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images for the discriminator, ``(N, C, ...)`` like ``images`` (detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.cpu().clone())
                out.append(image)
            elif float(torch.rand((), generator=generator)) > 0.5:
                k = int(torch.randint(len(self.images), (), generator=generator))
                out.append(self.images[k].to(image.device, image.dtype))
                self.images[k] = image.cpu().clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        """The stored images (checkpointed so a resumed run continues identically)."""
        return {"images": list(self.images)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = [t.clone() for t in state["images"]]
