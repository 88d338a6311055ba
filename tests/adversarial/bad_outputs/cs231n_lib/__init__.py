"""Adversarial submission: returns wrong dtypes, shapes and NaN."""
