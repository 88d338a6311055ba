"""Adversarial submission: a module that fails to import (and one that exits at import)."""
