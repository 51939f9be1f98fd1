"""A stand-in for MicroPython's `machine` on the host, so firmware/main.py and the board
modules import under the tests. Nothing here talks to hardware: the UART has no bytes,
the I2C bus has no device (OSError, as a missing IMU gives), the SD card cannot mount."""


def unique_id():
    return b"\x24\x0a\xc4\x12\x7f\x3a"


def reset():
    raise SystemExit("machine.reset()")


class Pin:
    def __init__(self, pin_id, *args, **kwargs):
        self.id = pin_id


class UART:
    def __init__(self, uart_id, **kwargs):
        self.id = uart_id
        self.config = kwargs

    def any(self):
        return 0

    def readinto(self, buf):
        return None


class I2C:
    def __init__(self, bus_id, **kwargs):
        self.id = bus_id

    def writeto_mem(self, address, register, data):
        raise OSError(19)  # ENODEV: nothing answers

    def readfrom_mem_into(self, address, register, buf):
        raise OSError(19)


class SDCard:
    def __init__(self, **kwargs):
        raise OSError(19)  # no card


class WDT:
    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1
