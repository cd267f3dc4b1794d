"""What the suite's tests share, beside the testing kit (:mod:`lgsp.testing`)
that runs their buses: the test-only contracts, clients and the misbehaving
echo provider (:mod:`~tests.support.echo`), the client store's clients
(:mod:`~tests.support.clients`), the simulated NDXP's
(:mod:`~tests.support.ndxp`), the real ``lgsp`` processes
(:mod:`~tests.support.processes`), docs/integrators.md's code blocks
(:mod:`~tests.support.docs`) and docs/metrics.md's catalogue
(:mod:`~tests.support.metrics`)."""
