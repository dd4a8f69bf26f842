"""Operation codes of the vector kernels, importable without loading Numba."""

DOT, COSINE, L2, NORM = 0, 1, 2, 3
