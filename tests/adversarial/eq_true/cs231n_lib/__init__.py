"""Adversarial submission: returns objects that equal everything."""
