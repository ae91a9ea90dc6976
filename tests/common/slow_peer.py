"""Test helper: a peer that answers too slowly: it reads the request, sends `head`, then one
`unit` every 50 ms until `stop` is set or the other side hangs up."""

from __future__ import annotations

import socket
import threading
import time


def drip(conn: socket.socket, stop: threading.Event, head: bytes, unit: bytes) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(head)
        while not stop.is_set():
            try:
                conn.sendall(unit)
            except OSError:
                return
            time.sleep(0.05)
