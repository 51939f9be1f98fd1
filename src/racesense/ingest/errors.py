"""Typed import errors. Each has a stable `code` that the API and the CLI show."""

from __future__ import annotations


class IngestError(ValueError):
    """A file could not be read as telemetry. The message is a plain sentence."""

    code = "ingest_error"


class EmptyFileError(IngestError):
    code = "empty_file"


class UnknownFormatError(IngestError):
    code = "unknown_format"


class MalformedFileError(IngestError):
    """The format was recognised but the content breaks it (bad header, no data rows...)."""

    code = "malformed_file"
