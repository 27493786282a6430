"""TCP ports of the local stack on 127.0.0.1: free or not, and who holds a busy one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

LISTEN = "0A"  # socket state in /proc/net/tcp


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """True unless another socket is bound to 127.0.0.1:`port`.

    SO_REUSEADDR, as PostgreSQL and moto set it on their own sockets: connections left in
    TIME_WAIT by a server that just stopped or crashed do not make the port busy, or a restarted
    stack would move to a new port and strand every client configured with the old one."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def holder(port: int) -> str:
    """Who listens on `port`, e.g. "pid 1234 (nc -l 5432)", as far as /proc tells (Linux);
    "another program" when it cannot be found out."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc") if inodes else []):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                command = b" ".join(a for a in cmdline if a).decode(errors="replace")
                return f"pid {pid} ({command[:80]})"
        except OSError:  # gone meanwhile, or not ours to inspect
            continue
    return "another program"
