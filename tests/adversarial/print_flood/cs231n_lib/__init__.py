"""Adversarial submission: prints 300 MB, then answers correctly."""
