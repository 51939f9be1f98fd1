"""The SD card: mounted at /sd over SPI; sessions live in /sd/sessions.

ESP32 SPI slot 2 (VSPI) with its usual pins; change them here for another wiring.
"""

import os

from machine import SDCard

MOUNT_POINT = "/sd"
SESSIONS_DIR = MOUNT_POINT + "/sessions"
SPI_SLOT = 2
SCK_PIN = 18
MOSI_PIN = 23
MISO_PIN = 19
CS_PIN = 5
SPI_HZ = 20000000


def mount_sd():
    """Mount the card (once) and return the sessions directory. Raises OSError when there
    is no card: without one there is nothing to log to."""
    try:
        os.stat(MOUNT_POINT)
        return SESSIONS_DIR  # already mounted (a soft reset keeps the mount)
    except OSError:
        pass
    card = SDCard(slot=SPI_SLOT, sck=SCK_PIN, mosi=MOSI_PIN, miso=MISO_PIN, cs=CS_PIN, freq=SPI_HZ)
    os.mount(card, MOUNT_POINT)
    return SESSIONS_DIR
