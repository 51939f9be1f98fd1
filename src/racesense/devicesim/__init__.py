"""A virtual RS-Core: the logger's real firmware (firmware/ of the source checkout) running
on this host under CPython, with a simulated Wi-Fi station and phone hotspot, real TCP
uploads to the backend, session files in a directory, and its BLE service reachable by a
phone played in Python (phone.py) or by Chromium's Web Bluetooth (ble_bridge.py).

- core: VirtualCore (the firmware's main.main() in a thread) and SimConfig;
- radio: HostRadio (the firmware's radio adapter, thread-safe) and LocalLink;
- wifi: VirtualHotspot, SimWLAN (network.WLAN as the ESP32 reports), GatedNet;
- sessions: synthetic sessions with known laps, or the user's files, on the card;
- phone: the phone's half of BLE protocol v2 and POST /api/syncs;
- ble_bridge: CdpBleBridge, the radio as Chromium's emulated peripheral (Playwright).

The firmware is loaded when a VirtualCore is made, never at import (firmware.py).
`racesense device-sim` (cli/device_sim.py) runs one from the command line.
"""

from racesense.devicesim.ble_bridge import CdpBleBridge
from racesense.devicesim.core import SimConfig, VirtualCore
from racesense.devicesim.firmware import FirmwareUnavailable
from racesense.devicesim.phone import PhoneClient
from racesense.devicesim.phone_session import PhoneError
from racesense.devicesim.radio import HostRadio, LocalLink
from racesense.devicesim.wifi import VirtualHotspot

__all__ = [
    "CdpBleBridge",
    "FirmwareUnavailable",
    "HostRadio",
    "LocalLink",
    "PhoneClient",
    "PhoneError",
    "SimConfig",
    "VirtualCore",
    "VirtualHotspot",
]
