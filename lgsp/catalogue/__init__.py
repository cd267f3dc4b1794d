"""What the bus offers, as contracts: the registry of every service and topic
version (loaded from the ``lgsp.contracts`` entry points), the documents
built from it (catalogue answers, the JSON Schema export, OpenAPI, AsyncAPI)
and the compatibility rules between two exports.

Nothing here knows HTTP or a transport: the gateway serves these documents,
the CLI exports and diffs them.
"""
