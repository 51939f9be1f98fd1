"""XML parsing that refuses entity tricks (billion laughs, external entities).

Uploaded GPX files are untrusted. defusedxml is the maintained library for exactly
this; it wraps the standard ElementTree parser and rejects DTD entity declarations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as DET

from racesense.ingest.errors import MalformedFileError


def parse_xml(text: str) -> ET.Element:
    """The root element of `text`. Raises MalformedFileError for bad or hostile XML."""
    try:
        root: ET.Element = DET.fromstring(text)
    except defusedxml.DefusedXmlException as exc:
        raise MalformedFileError("The XML declares entities, which are refused.") from exc
    except ET.ParseError as exc:
        raise MalformedFileError(f"The XML is not well formed ({exc}).") from exc
    return root
