"""Adversarial submission: forges frames on the result channel."""
