"""The GNSS receiver on a UART: the byte source the logger reads (`readinto`).

The receiver must already send RMC and GGA at 10-25 Hz (u-blox: set the rate and the
messages once with u-center and save them to its flash; most modules keep them). At
25 Hz the two sentences are about 4 KB/s, so the UART runs at 115200 baud, and the
receive buffer holds a few hundred milliseconds of them for when the loop is busy
(an SD write, a BLE exchange, deriving the pairing keys at boot).
"""

from machine import UART

UART_ID = 2
TX_PIN = 17
RX_PIN = 16
BAUD = 115200
RX_BUFFER_BYTES = 4096


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
