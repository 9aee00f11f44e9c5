"""The one GAN training engine of medgan, shared by every family, and the generic layer around it.

A family plugs in a :class:`~medgan.training.step.GANStep` (its networks, optimiser groups, phases
and a loss per phase) and a :class:`~medgan.training.spec.FamilySpec` registered with
:func:`~medgan.training.spec.register_family`; :class:`~medgan.training.loop.Trainer` runs it,
:func:`~medgan.training.run.load_run` loads any trained run, and
:class:`~medgan.training.stage.FamilyStage` makes any family with a preset a benchmark synthesis
stage. See ``docs/engine.md`` and ``docs/contributing.md``. Submodules are imported on demand so that
the command line and the config dataclasses load without torch.
"""
