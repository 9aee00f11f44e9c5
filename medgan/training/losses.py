"""Adversarial losses (non-saturating BCE, LSGAN, WGAN with gradient penalty and drift, hinge) and
the other losses families combine with them (feature matching).

Every function takes discriminator outputs (logits or critic scores, any shape) and returns a scalar;
they compute in float32 whatever the autocast dtype of the logits.

Example:
    >>> loss = AdversarialLoss("hinge")
    >>> d_loss = loss.discriminator(d_real, d_fake)  # doctest: +SKIP
    >>> g_loss = loss.generator(d_fake_for_g)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

LossName = Literal["bce", "lsgan", "wgan-gp", "hinge"]
LOSS_NAMES: tuple[str, ...] = ("bce", "lsgan", "wgan-gp", "hinge")


@dataclass
class LossConfig:
    """Adversarial loss settings.

    Attributes:
        kind: ``bce`` (non-saturating), ``lsgan``, ``wgan-gp`` or ``hinge``.
        gp_weight: gradient-penalty weight (``wgan-gp``; also usable with the others when positive
            through :func:`gradient_penalty`).
        drift: weight of the drift term ``E[D(real)^2]`` (Karras et al. 2018: 0.001); ``wgan-gp`` only.
    """

    kind: LossName = "bce"
    gp_weight: float = 10.0
    drift: float = 0.0


class AdversarialLoss:
    """Discriminator and generator terms of one adversarial loss.

    Args:
        kind: one of :data:`LOSS_NAMES`.
    """

    def __init__(self, kind: str) -> None:
        if kind not in LOSS_NAMES:
            raise ValueError(f"unknown adversarial loss {kind!r} (known: {', '.join(LOSS_NAMES)})")
        self.kind = kind

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from its outputs on real and on (detached) fake samples."""
        real, fake = real.float(), fake.float()
        if self.kind == "bce":
            return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                    + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if self.kind == "lsgan":
            return F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
        if self.kind == "hinge":
            return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        return fake.mean() - real.mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Generator loss from the discriminator's outputs on fake samples (gradients flowing)."""
        fake = fake.float()
        if self.kind == "bce":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.kind == "lsgan":
            return F.mse_loss(fake, torch.ones_like(fake))
        return -fake.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad D(x_hat)|| - 1)^2]`` at random points between real and fake.

    Runs in float32 outside autocast (the double backward of a float16 graph is fragile).

    Args:
        critic: the discriminator as a function of its image input (bind any condition in a lambda).
        real, fake: ``(N, C, ...)`` batches of the same shape; ``fake`` is detached here.
        generator: CPU generator for the interpolation weights (the run's, for reproducibility).

    Returns:
        A scalar tensor.
    """
    n = real.shape[0]
    alpha = torch.rand((n,) + (1,) * (real.dim() - 1), generator=generator).to(real.device)
    mixed = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        scores = critic(mixed).float()
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def discriminator_loss(config: LossConfig, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                       fake: torch.Tensor, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The full discriminator loss of ``config`` (adversarial term, plus penalty and drift for
    ``wgan-gp``) and its parts for logging.

    Args:
        config: the loss settings.
        critic: the discriminator as a function of its image input.
        real, fake: image batches; ``fake`` should be detached from the generator.
        generator: CPU generator for the penalty's interpolation.
    """
    adversarial = AdversarialLoss(config.kind)
    real_scores, fake_scores = critic(real), critic(fake)
    loss = adversarial.discriminator(real_scores, fake_scores)
    stats = {"D_adv": loss.detach()}
    if config.kind == "wgan-gp":
        penalty = gradient_penalty(critic, real, fake, generator)
        loss = loss + config.gp_weight * penalty
        stats["D_gp"] = penalty.detach()
        if config.drift > 0:
            drift = (real_scores.float() ** 2).mean()
            loss = loss + config.drift * drift
            stats["D_drift"] = drift.detach()
    stats["D_real"] = real_scores.detach().float().mean()
    stats["D_fake"] = fake_scores.detach().float().mean()
    return loss, stats


def feature_matching_loss(real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean L1 distance between discriminator features of real and fake samples (pix2pixHD/SPADE).

    Args:
        real_features, fake_features: matching lists of intermediate activations; the real ones are
            treated as constants.
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError("feature matching needs two non-empty lists of the same length")
    terms = [F.l1_loss(f.float(), r.detach().float()) for r, f in zip(real_features, fake_features)]
    return torch.stack(terms).mean()
