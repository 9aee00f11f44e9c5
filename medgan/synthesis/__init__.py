"""From a trained run folder to new cases, for any family (found through the registry): whole-volume
translation (:mod:`~medgan.synthesis.translate`) and on-the-fly lesion insertion as a MONAI transform
(:mod:`~medgan.synthesis.transform`). A family's own sampling lives in its folder under
``medgan/families/``; the array operations it shares (insertion, intensity scaling) in
:mod:`medgan.transforms`, whole-image inference in :mod:`medgan.models.inference`."""
