"""The synthetic light-field data engine and the readers for real datasets (numpy + OpenCV).

- :mod:`.scene`: procedural layered scenes with disparity (``random_scene``).
- :mod:`.lightfield`: the reference light-field renderer (``render``).
- :mod:`.tasks`: per-task samplers (magnify, focal stacks, defocus map, SYNDOF, DeepLens).
- :mod:`.dataset`: the on-the-fly stream, ``write_dataset`` and its reader.
- :mod:`.readers`: Flowers light fields, SYNDOF, CUHK blur detection, generic RGB-D folders.
- :mod:`.photos`: the texture photos allowed in training and those reserved for showing.
"""
