"""The province's open data portal (cổng dữ liệu mở): the warehouse's
aggregate datasets, de-identified, published through a CKAN-compatible
Action API, DataStore, DCAT-AP metadata and a small web page
(docs/opendata.md).

One module per job: :mod:`.datasets` what is published (the allow-lists),
:mod:`.deidentify` small-count suppression, :mod:`.publish` the publisher
(the only way data enters), :mod:`.catalog` what is published now,
:mod:`.search` package_search, :mod:`.datastore` datastore_search,
:mod:`.actions` the CKAN actions, :mod:`.dcat` the metadata graph and
:mod:`.server` the HTTP server and the sidecar.
"""
