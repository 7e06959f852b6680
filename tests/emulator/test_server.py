"""The emulator's HTTP host: responses leave at once (no Nagle delay between headers and body)."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from tests.local.emulator import ServiceEmulator, VirtualClock


def test_every_connection_sends_without_nagles_delay() -> None:
    # Given the emulator serving, and a client that keeps its connection open after a request
    with ServiceEmulator(clock=VirtualClock()) as emulator:
        assert emulator.endpoint_url is not None
        address = urlsplit(emulator.endpoint_url)
        connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=5)
        connection.request("GET", "/")
        connection.getresponse().read()

        # Then the server's side of that connection has TCP_NODELAY on: headers and body are written
        # separately, and with Nagle's algorithm the body would wait for the client's delayed ACK
        server = emulator._server
        assert server is not None
        sockets = list(server._open)
        assert sockets
        assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in sockets)
        connection.close()
