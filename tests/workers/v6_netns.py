"""Run inside ``unshare -n`` (a private network namespace): IPv6 steering from many sources.

Adds 2001:db8:0:N::1 addresses to the namespace's own loopback (the host is untouched), opens
a dual-stack group of 3 sockets and prints, as JSON, how many connections landed where
``steer_index`` predicts and how many distinct slots were used.
"""

from __future__ import annotations

import json
import socket
import subprocess

from shieldwall.config.model import ListenerConfig
from shieldwall.edge.reuseport import create_listener_group, steer_index

if __name__ == "__main__":
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sources = [f"2001:db8:0:{i:x}::1" for i in range(1, 31)]
    for src in sources:
        subprocess.run(["ip", "-6", "addr", "add", f"{src}/128", "dev", "lo", "nodad"], check=True)
    group = create_listener_group(ListenerConfig("::", 0), 3)
    matched, slots = 0, set()
    for src in sources:
        with socket.socket(socket.AF_INET6) as c:
            c.bind((src, 0))
            c.connect(("::1", group.port))
            hits = []
            for i, s in enumerate(group.sockets):
                try:
                    s.accept()[0].close()
                    hits.append(i)
                except BlockingIOError:
                    pass
            matched += hits == [steer_index(src, 3)]
            slots.update(hits)
    print(json.dumps({"matched": matched, "total": len(sources), "slots": sorted(slots)}))
