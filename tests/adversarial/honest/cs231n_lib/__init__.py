"""Adversarial submission: an honest submission."""
