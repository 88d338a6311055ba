"""Adversarial submission: raises BaseException subclasses."""
