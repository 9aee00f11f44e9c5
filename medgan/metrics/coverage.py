"""Mode coverage: a classifier trained on real classes labels the synthetic cases.

Following the covariate-shift test of Santurkar et al. (2018), the class histogram the classifier
predicts on synthetic data is compared with the one it predicts on held-out real data (so that the
classifier's own errors appear on both sides). A class is *under-covered* when its synthetic share is
below half of its real share. The classifier is a multinomial logistic regression on standardised
features (full-batch L-BFGS, L2 penalty), deterministic for a given input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureClassifier:
    """Multinomial logistic regression on standardised features.

    Attributes:
        classes: the class values, in output order.
        mean, std: standardisation of the training features.
        weight, bias: the fitted linear map ``(D, K)``, ``(K,)``.
    """

    classes: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted class value of each row of ``features`` ``(N, D)``."""
        z = (features - self.mean) / self.std
        return self.classes[np.argmax(z @ self.weight + self.bias, axis=1)]


def train_classifier(features: np.ndarray, classes: np.ndarray, l2: float = 1e-2,
                     iterations: int = 200) -> FeatureClassifier:
    """Fit :class:`FeatureClassifier` on ``features`` ``(N, D)`` and class values ``(N,)``.

    The parameters start at zero and L-BFGS is deterministic, so no seed is needed.
    """
    import torch

    values = np.unique(classes)
    if len(values) < 2:
        raise ValueError("the coverage classifier needs at least two classes in the real data")
    mean = features.mean(axis=0)
    std = np.where(features.std(axis=0) > 1e-12, features.std(axis=0), 1.0)
    x = torch.from_numpy((features - mean) / std)
    y = torch.from_numpy(np.searchsorted(values, classes))
    weight = torch.zeros(x.shape[1], len(values), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(values), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return FeatureClassifier(values, mean, std, weight.detach().numpy(), bias.detach().numpy())


def cross_fitted_predictions(features: np.ndarray, classes: np.ndarray, folds: int,
                             rng: np.random.Generator) -> np.ndarray:
    """Out-of-fold predictions for every row (each fold predicted by a classifier fitted on the rest)."""
    order = rng.permutation(len(features))
    predictions = np.empty_like(classes)
    for fold in np.array_split(order, folds):
        rest = np.setdiff1d(order, fold)
        predictions[fold] = train_classifier(features[rest], classes[rest]).predict(features[fold])
    return predictions


def histogram(values: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Share of each class value in ``values`` (keys are the class values as text)."""
    n = max(len(values), 1)
    return {str(int(c)): float(np.sum(values == c)) / n for c in classes}


def under_covered(real_share: dict[str, float], synthetic_share: dict[str, float], ratio: float = 0.5) -> list[str]:
    """Classes whose synthetic share is below ``ratio`` times their real share."""
    return [c for c, share in real_share.items() if share > 0 and synthetic_share.get(c, 0.0) < ratio * share]
