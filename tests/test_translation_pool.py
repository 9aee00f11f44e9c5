"""CycleGAN's image pool."""

from __future__ import annotations

import torch

from medgan.families._translation.pool import ImagePool


def test_pool_fills_then_mixes_old_and_new():
    pool, generator = ImagePool(3), torch.Generator().manual_seed(0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first, generator), first)  # filling: returned unchanged
    assert [float(t) for t in pool.images] == [0.0, 1.0, 2.0]
    new = torch.arange(10.0, 210.0).view(200, 1, 1, 1)
    out = pool.query(new, generator).flatten()
    swapped = out != new.flatten()
    assert 60 < int(swapped.sum()) < 140  # about half come from the pool: earlier fakes
    assert all(float(v) < float(n) for v, n in zip(out[swapped], new.flatten()[swapped]))
    assert len(pool.images) == 3


def test_pool_is_deterministic_and_restorable():
    images = torch.randn(20, 1, 2, 2)
    a, b = ImagePool(5), ImagePool(5)
    out_a = a.query(images, torch.Generator().manual_seed(1))
    b.load_state_dict(ImagePool(5).state_dict())
    out_b = b.query(images, torch.Generator().manual_seed(1))
    assert torch.equal(out_a, out_b)
    c = ImagePool(5)
    c.load_state_dict(a.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(c.images, a.images))


def test_pool_of_size_zero_passes_through():
    images = torch.randn(4, 1, 2, 2)
    assert torch.equal(ImagePool(0).query(images, torch.Generator()), images)
