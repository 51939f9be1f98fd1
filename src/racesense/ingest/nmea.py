"""Placeholder while the importer is being written."""

from __future__ import annotations

from racesense.analysis.telemetry import Telemetry
from racesense.ingest.errors import MalformedFileError


def sniff(head: bytes) -> bool:
    return False


def parse(data: bytes) -> Telemetry:
    raise MalformedFileError("Not implemented yet.")
