"""Typed analysis errors. Each has a stable `code` for the API and the CLI."""

from __future__ import annotations


class AnalysisError(ValueError):
    """The telemetry cannot be analysed. The message is a plain sentence."""

    code = "analysis_error"


class NoFixesError(AnalysisError):
    code = "no_fixes"


class TrackError(AnalysisError):
    """A start/finish or sector line that is malformed or never crossed."""

    code = "bad_track"
