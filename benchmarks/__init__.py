"""Side-by-side throughput/latency measurements of lgsp against the raw floors
it cannot beat for free (``make bench``, see ``benchmarks/README.md``)."""
