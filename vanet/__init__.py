"""vanet: a Twisted-based plugin framework for VANET routing protocols."""

__version__ = "0.1.0"
