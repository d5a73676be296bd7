"""Image and map I/O: load/save with EXIF, ICC, 8/16-bit and alpha; input discovery,
output naming and atomic writes. numpy, Pillow and OpenCV only (never torch)."""
