"""Pure ndarray -> ndarray pipelines, one module per job (no file I/O, no CLI)."""
