"""Numpy/OpenCV operations shared by data synthesis and inference (never torch)."""
