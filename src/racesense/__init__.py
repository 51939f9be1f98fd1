"""Racesense: open lap timing and track-day telemetry."""

__version__ = "0.1.0"
