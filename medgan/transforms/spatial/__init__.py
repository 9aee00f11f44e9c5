"""Spatial transforms composed into one sampling grid and resampled once."""

from medgan.transforms.spatial.affine import RandAffined, rotation_matrix
from medgan.transforms.spatial.compose import RandSpatiald, SpatialTransform, apply_spatial, fuse
from medgan.transforms.spatial.elastic import RandElasticd
from medgan.transforms.spatial.flip import RandFlipd
from medgan.transforms.spatial.sampling import SamplingPlan, resample, resample_pair, resample_torch

__all__ = ["RandAffined", "RandElasticd", "RandFlipd", "RandSpatiald", "SamplingPlan", "SpatialTransform",
           "apply_spatial", "fuse", "resample", "resample_pair", "resample_torch", "rotation_matrix"]
