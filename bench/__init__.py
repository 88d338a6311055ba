"""``make bench``: speed ratios of the course library, measured in one process.

Run ``python -m bench`` (``--help`` for options). Sections:

* ``conv``: convolution forward / backward / both for three shapes in float64 and float32,
  naive, im2col, fast, PyTorch CPU, and the bare GEMM of the same size (the floor);
* ``pool``: max and average pooling 2x2 stride 2, naive, fast, PyTorch;
* ``train``: one epoch of ThreeLayerConvNet on the digits (vs the same network in PyTorch)
  and its peak traced memory against ``ThreeLayerConvNet.memory_estimate``;
* ``grading`` (only with ``--grading``; slow): seconds per submission for a class of 20
  with ``--jobs 1`` and ``--jobs 2`` and the overhead over executing the same notebooks bare.

Every printed figure is a ratio of two times measured in the same process, BLAS and torch
pinned to one thread, from medians of interleaved repeats. Absolute times, the environment
(threadpoolctl's view of BLAS, ``OPENBLAS_*`` variables) and every target go to
``bench/results/<timestamp>.json`` and ``bench/results/latest.json``.
"""

SCHEMA = "cs231n-bench/1"
