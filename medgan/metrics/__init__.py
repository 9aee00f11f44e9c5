"""Evaluation metrics (see the submodules)."""
