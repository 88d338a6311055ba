"""Adversarial submission: reads and writes files outside the submission."""
