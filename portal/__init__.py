"""The clinic's patient portal."""

__version__ = "0.1.0"
