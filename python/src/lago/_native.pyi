"""Type stubs for the compiled module ``lago._native`` (bindings/python)."""

__version__: str
