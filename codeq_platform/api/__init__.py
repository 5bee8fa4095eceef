"""The HTTP API under ``/v1/codeq``: views, serializers, bearer-token auth and error rendering."""
