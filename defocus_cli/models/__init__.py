"""Model registry, weights resolution and ONNX Runtime sessions (never imports torch).

``registry`` holds one :class:`~defocus_cli.models.registry.ModelSpec` per checkpoint,
``resolve`` finds its file (bundled, cached or downloaded, sha256-checked), ``session`` runs it
on the chosen device, and ``tiling`` pads to the stride and tiles large images seamlessly.
onnxruntime is imported only when a session is created.
"""
