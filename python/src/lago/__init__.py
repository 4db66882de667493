"""lago: declarative, throwaway virtual-machine test environments on libvirt.

This package is the Python face of a Rust engine: the compiled module
``lago._native`` holds the Rust objects, and the pure-Python modules here keep
Lago's public module layout on top of it.
"""

from lago._native import __version__

__all__ = ["__version__"]
