"""The benchmarks' own parts, without load: speed is measured by the benchmarks, never here."""
