"""Adversarial submission: opens sockets."""
