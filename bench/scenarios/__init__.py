"""Benchmark scenarios; each module exposes ``add_arguments(parser)`` and ``main(args) -> int``."""
