"""Training: the only package that imports torch (install the ``[train]`` extra)."""
