"""Convolution kernels (see kernels/conv/dispatch.py for how one is chosen)."""
