"""defocus: depth-of-field editing for photographs.

Inference (``cli``, ``io``, ``ops``, ``models``, ``pipelines``, ``data``) never imports torch;
``training`` is the only package that does.
"""

__version__ = "0.1.0"
