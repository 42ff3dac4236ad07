"""slimnas: find, shrink and ship small image classifiers."""

__version__ = "0.1.0"
