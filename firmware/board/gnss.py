"""The GNSS receiver on a UART: the byte source the logger reads (`readinto`).

The receiver must already send RMC and GGA at 10-25 Hz (u-blox: set the rate and the
messages once with u-center and save them to its flash; most modules keep them). At
25 Hz the two sentences are about 4 KB/s, so the UART runs at 115200 baud.

The receive buffer is filled by the UART driver's interrupt whatever the Python loop is
doing, and bytes that do not fit are dropped: its size is how long the loop may be busy
without losing a fix. 16 KB holds about 4 s at 25 Hz (4 KB held one): an SD write, a
BLE exchange, the pairing handshake's X25519 (1-2 s on the ESP32) or a TLS handshake
step all fit. The Wi-Fi sync's slow calls (scan, name lookups) run on threads and its
sockets never block (board/net.py). The driver allocates it outside the MicroPython heap.
"""

from machine import UART

UART_ID = 2
TX_PIN = 17
RX_PIN = 16
BAUD = 115200
RX_BUFFER_BYTES = 16384


class Gnss:
    def __init__(self, uart_id=UART_ID, tx=TX_PIN, rx=RX_PIN, baudrate=BAUD):
        # timeout=0: readinto returns what has arrived instead of waiting for more.
        self._uart = UART(
            uart_id, baudrate=baudrate, tx=tx, rx=rx, rxbuf=RX_BUFFER_BYTES, timeout=0
        )

    def readinto(self, buf):
        """Bytes waiting, copied into buf: their number, or None when there are none."""
        if not self._uart.any():
            return None
        return self._uart.readinto(buf)
