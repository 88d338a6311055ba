"""A module that exits while being imported."""

import os

os._exit(3)
