"""Adversarial submission: allocates 50 GB."""
