"""shieldwall's benchmark harness: ``python -m bench SCENARIO`` from the repository root.

Method (see ``/work/shared/BENCHMARKING.md`` and ``bench/README.md``): the server under test is
pinned to CPU 1, the load generator and the origin to CPU 0; runs of the contenders are
interleaved (A B A B ...) and medians are quoted; every run records the server's own CPU time
per completed request, the most stable basis for ratios on a noisy 2-core machine. Every
process the harness starts lives in its own process group and is killed on exit, errors
included. Only loopback addresses are ever used.
"""
