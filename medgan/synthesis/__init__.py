"""From a trained run folder (or real lesions) to new cases: lesion sampling and insertion into scans.

Importing this package registers the ``copy-paste`` synthesis stage (no torch imported here).
"""

from medgan.registry import SYNTHESIS_STAGES

if "copy-paste" not in SYNTHESIS_STAGES:
    from medgan.synthesis.copypaste_stage import CopyPasteStage

    SYNTHESIS_STAGES.register("copy-paste")(CopyPasteStage)
