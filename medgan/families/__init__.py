"""GAN families: each subpackage here is one family and registers one
:class:`medgan.training.spec.FamilySpec` (with :func:`medgan.training.spec.register_family`) when
imported. Nothing imports them by name: the registries import them on first use
(:func:`medgan.registry.load_plugins`), together with families defined outside medgan that declare
a ``medgan.plugins`` entry point. Modules whose names start with ``_`` hold code shared by several
families. See ``docs/contributing.md``.
"""
