"""Vehicle photo daemon: background removal, auto-crop, shadow and variants for queued photos."""

__version__ = "0.1.0"
