"""The one GAN training engine of medgan, shared by every family.

A family plugs in a :class:`~medgan.training.step.GANStep` (its networks, optimiser groups, phases
and a loss per phase) and a :class:`~medgan.training.spec.FamilySpec` registry entry in
:data:`medgan.registry.GAN_FAMILIES`; :class:`~medgan.training.loop.Trainer` runs it. See
``docs/engine.md`` for the contract. Submodules are imported on demand so that the command line and
the config dataclasses load without torch.
"""
