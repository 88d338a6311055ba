"""Adversarial submission: monkeypatches builtins."""
