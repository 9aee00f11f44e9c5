"""Simulated brain MR/CT cohorts in the BraTS 2023 layout, from the MNI ICBM152 2009a atlas medgan ships.

The same code makes the shipped ``sample_data/`` (through ``scripts/make_sample_data.py``, reading
the templates from nilearn) and cohorts of any size on demand (``medgan sample-data``, reading the
exact 2 mm copy in :data:`~medgan.sample_data.atlas.ATLAS_PATH`; no nilearn, no download). Subject
``i`` depends only on ``(seed, kind, i)``, so seed 0 reproduces the shipped cases as its first
members and any other seed gives new subjects.

Example:
    >>> from medgan.sample_data.cohort import generate_cohort
    >>> summary = generate_cohort("cohort", cases=120, seed=1)  # doctest: +SKIP
"""
