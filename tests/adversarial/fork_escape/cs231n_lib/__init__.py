"""Adversarial submission: tries to reach the zygote, the next worker and other compositions."""
