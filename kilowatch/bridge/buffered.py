"""A paho client that reads the socket in large chunks (the bridge receives, it barely sends).

paho reads each packet with three or more small recv() calls, and every call lets the bridge's
other threads take the GIL; the network thread then waits for it back. Reading 64 KiB at a
time and serving paho's small reads from memory cuts those hand-offs to one per chunk. This
relies on three paho 2.x internals, `_sock_recv`, `_sock_close` and `loop_read` (paho is
pinned below 3; tests/bridge/test_buffered.py checks them).
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

CHUNK_BYTES = 65536


class BufferedReadClient(mqtt.Client):
    """paho's Client, with socket reads buffered."""

    _rbuf = b""
    _rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, CHUNK_BYTES))  # may raise, as paho expects
            if len(data) <= bufsize:
                return data
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start : self._rpos]

    def _sock_close(self) -> None:
        # Bytes of a closed connection must never be read as the start of the next one.
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # Packets already in the buffer must be handled now: select() will not report them.
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            rc = super().loop_read(1)
        return rc
