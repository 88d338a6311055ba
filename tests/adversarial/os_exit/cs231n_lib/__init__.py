"""Adversarial submission: calls os._exit(0)."""
