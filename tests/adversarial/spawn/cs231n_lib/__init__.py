"""Adversarial submission: spawns processes and a fork bomb."""
