"""Adversarial submission: monkeypatches numpy's comparisons at import and in a call."""
