"""Adversarial submission: calls sys.exit(0)."""
