"""The benchmark harness's parsers: wrk's --latency report and /proc/PID/stat (no load run)."""

from __future__ import annotations

import os
import time

import pytest
from bench.procs import CLK_TCK, parse_proc_stat, read_smaps_rollup, tree_cpu_seconds, tree_pids
from bench.wrk import parse_wrk, wrk_argv

CLEAN = """Running 2s test @ http://127.0.0.1:18999/1k.bin
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   780.53us  427.73us   1.62s    95.85%
    Req/Sec    29.99k     8.88k   54.01k    80.00%
  Latency Distribution
     50%  279.00us
     75%  290.00us
     90%    1.31ms
     99%    2.82s
  59796 requests in 2.00s, 35.92MB read
Requests/sec:  29780.84
Transfer/sec:     35.90MB
"""

DIRTY = """Running 1m test @ http://127.0.0.1:18999/nope
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.07ms    1.56ms  20.33ms   96.45%
    Req/Sec    25.93k    16.31k   52.44k    72.73%
  Latency Distribution
     50%  163.00us
     75%  509.00us
     90%  782.00us
     99%    8.81ms
  28312 requests in 1.00m, 8.32MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 28312
Requests/sec:    471.87
Transfer/sec:      7.55MB
"""


def test_wrk_clean_report_units() -> None:
    r = parse_wrk(CLEAN)
    assert r.requests == 59796
    assert r.duration_s == pytest.approx(2.0)
    assert r.rps == pytest.approx(29780.84)
    assert r.latency_avg_us == pytest.approx(780.53)
    assert r.p50_us == pytest.approx(279.0)
    assert r.p90_us == pytest.approx(1310.0)
    assert r.p99_us == pytest.approx(2_820_000.0)
    assert r.errors == 0 and r.non2xx == 0 and r.clean


def test_wrk_errors_and_non2xx_flag_the_run() -> None:
    r = parse_wrk(DIRTY)
    assert r.duration_s == pytest.approx(60.0)
    assert (r.connect_errors, r.read_errors, r.write_errors, r.timeouts) == (1, 2, 3, 4)
    assert r.errors == 10
    assert r.non2xx == 28312
    assert not r.clean


def test_wrk_without_latency_distribution_is_rejected() -> None:
    text = CLEAN.split("  Latency Distribution")[0] + "  10 requests in 1.00s, 1KB read\n"
    with pytest.raises(ValueError, match="percentiles"):
        parse_wrk(text + "Requests/sec: 10.00\n")
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_wrk("wrk: connection refused\n")


def test_wrk_argv_pins_and_passes_headers() -> None:
    argv = wrk_argv("http://127.0.0.1:1/x", duration_s=2.4, headers=("A: b", "C: d"), cpu=0)
    assert argv[:3] == ["taskset", "-c", "0"]
    assert "-d2s" in argv and "--latency" in argv
    assert argv[argv.index("-H") + 1] == "A: b" and argv[-1] == "http://127.0.0.1:1/x"


def test_proc_stat_comm_with_spaces_and_parens() -> None:
    fields = " ".join(str(i) for i in range(4, 53))  # fields 4..52 after state
    st = parse_proc_stat(f"4242 (we(ird) na me) S {fields}\n")
    assert st.pid == 4242 and st.comm == "we(ird) na me" and st.state == "S"
    # field N has value N here: ppid=4, utime=14, stime=15, cutime=16, cstime=17
    assert (st.ppid, st.utime, st.stime, st.cutime, st.cstime) == (4, 14, 15, 16, 17)
    assert st.total_ticks == 14 + 15 + 16 + 17


def test_proc_stat_of_this_process_counts_our_cpu() -> None:
    with open(f"/proc/{os.getpid()}/stat") as f:
        st = parse_proc_stat(f.read())
    assert st.pid == os.getpid() and st.ppid == os.getppid()
    before = tree_cpu_seconds(os.getpid())
    end = time.process_time() + 3.0 / CLK_TCK  # burn a few clock ticks of CPU
    while time.process_time() < end:
        pass
    assert tree_cpu_seconds(os.getpid()) > before
    assert os.getpid() in tree_pids(os.getpid())


def test_smaps_rollup_reports_bytes() -> None:
    m = read_smaps_rollup(os.getpid())
    assert m["Rss"] > 1024 * 1024 and 0 < m["Pss"] <= m["Rss"]


def test_pyspy_collapsed_stacks_rank_self_and_inclusive() -> None:
    from bench.profile import parse_collapsed

    text = (
        "run (uvloop/__init__.py:82);data_received (/work/main/src/shieldwall/edge/x.py:10) 6\n"
        "run (uvloop/__init__.py:82);data_received (/work/main/src/shieldwall/edge/x.py:12);"
        "parse (/usr/lib/python3.11/site-packages/httptools/p.py:3) 3\n"
        "run (uvloop/__init__.py:90) 1\n"
        "garbage line\n"
    )
    prof = parse_collapsed(text)
    assert prof.samples == 10
    assert prof.self_counts["data_received (shieldwall/edge/x.py)"] == 6  # lines merged
    assert prof.inclusive_counts["data_received (shieldwall/edge/x.py)"] == 9
    assert prof.inclusive_counts["run (uvloop/__init__.py)"] == 10  # once per sample
    assert prof.top(1) == [{"function": "data_received (shieldwall/edge/x.py)", "pct": 60.0}]
    assert prof.self_counts["parse (httptools/p.py)"] == 3
    assert prof.self_line_counts["data_received (shieldwall/edge/x.py:10)"] == 6
