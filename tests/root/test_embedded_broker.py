import socket

import pytest

from geowarn.embedded import BrokerError, free_port, start_broker


def test_broker_moves_to_the_next_free_port_and_stops_cleanly():
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port(29300)
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    try:
        broker = start_broker(port=port)
        try:
            assert broker.port > port
            with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
                pass
        finally:
            broker.stop()
        assert broker.process.poll() is not None
    finally:
        blocker.close()


def test_free_port_reports_exhaustion():
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port(29400)
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    try:
        with pytest.raises(BrokerError, match="no free port"):
            free_port(port, attempts=1)
    finally:
        blocker.close()
