"""tinyae: from-scratch autoencoders in NumPy, every backward pass written by hand and proved by finite differences."""

__version__ = "0.1.0"
