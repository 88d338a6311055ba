"""Adversarial submission: loops forever."""
