"""campuspass: campus return passes with offline door verification."""

__version__ = "0.1.0"
