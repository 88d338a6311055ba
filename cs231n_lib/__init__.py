"""cs231n_lib: the NumPy library of the convolutional-networks unit.

One module per idea; import what you need, e.g. ``from cs231n_lib.conv_naive import
conv_forward_naive``. Functions a learner writes keep their reference body between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student release replaces that
region by a stub that raises ``NotImplementedError`` pointing at the notebook.
"""

__version__ = "0.1.0"
