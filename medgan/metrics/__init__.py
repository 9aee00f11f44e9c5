"""Evaluation of synthetic data and segmentations, all offline.

- :mod:`medgan.metrics.segmentation`: Dice, sensitivity, specificity, HD95, lesion-wise sensitivity
  per class or per region union (e.g. BraTS WT/TC/ET), through MONAI.
- :mod:`medgan.metrics.features`: feature extractors registered by name (``radiomics`` default,
  ``inception`` from a local hash-checked weights file).
- :mod:`medgan.metrics.spatial`: per-position feature extractors (one vector per pixel/voxel, for
  single-image metrics), registered by name (``filterbank`` default, no weights).
- :mod:`medgan.metrics.distribution`: Fréchet distance, KID, precision/recall of distributions.
- :mod:`medgan.metrics.diversity`, :mod:`~medgan.metrics.coverage`, :mod:`~medgan.metrics.memorisation`,
  :mod:`~medgan.metrics.plausibility`: mode collapse, mode coverage, memorisation, segmentation plausibility.
- :mod:`medgan.metrics.realism`: the realism gate of synthetic lesions (label values and proportions,
  volume, contrast to surrounding tissue, visibility, boundary sharpness, near-copies), on the
  per-lesion measurements of :mod:`medgan.metrics.lesion_stats`.
- :mod:`medgan.metrics.suite`: the metrics of ``medgan evaluate`` registered in
  :data:`medgan.registry.METRICS`; :func:`medgan.metrics.evaluation.evaluate` runs them on loaded
  sets (:func:`medgan.reports.evaluation.evaluate_datasets` reads the datasets and writes the report).

Metrics compute: they never load a trained run or write a file.
"""
