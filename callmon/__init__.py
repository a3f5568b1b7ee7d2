"""callmon: a terminal monitor for outbound phone calls."""

__version__ = "0.1.0"
