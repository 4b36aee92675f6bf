"""temcoco: temporally consistent infrared + visible video fusion at archive scale."""

__version__ = "0.1.0"
