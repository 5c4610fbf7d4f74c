"""The single source of densegym's version number."""

__version__ = "0.1.0"
