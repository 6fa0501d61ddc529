"""slimwheel: make Python wheels small enough for edge devices, firmware images and serverless layers."""

__version__ = "0.1.0"
