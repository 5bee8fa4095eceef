"""Bodies are JSON whatever their Content-Type (the contract's §1), on the DRF views too."""

from __future__ import annotations

from rest_framework.parsers import BaseParser, JSONParser


class AnyContentTypeJSONParser(BaseParser):
    """Reads a body of any other type as JSON: clients that send ``text/plain``, a form type or none at
    all get the same answer as with ``application/json`` (a 400 when it is not JSON), never a 415. Not a
    JSONParser subclass, so the schema keeps listing ``application/json`` alone."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return JSONParser().parse(stream, "application/json", parser_context)
