"""The radio adapter of ble_provisioning on MicroPython's `bluetooth.BLE` (ESP32, NimBLE).

The only firmware module that imports `bluetooth`: everything above it takes the adapter
as a constructor argument and is tested on a fake. It cannot run without a radio; the
tests compile it with mpy-cross.

    radio = BleRadio(device_name(device_id), on_event=flag.set)  # asyncio.ThreadSafeFlag
    prov = Provisioning(radio, ...)
    while True:
        await flag.wait()
        prov.poll()

The IRQ handler only copies what it is told into a bounded queue (and wakes the
application): no protocol work, no JSON, no crypto in IRQ context.
"""

import bluetooth
from micropython import const

from ble_provisioning import EV_CONNECT, EV_DISCONNECT, EV_MTU, EV_WRITE
from rs_protocol import MAX_FRAME_BYTES

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)

_ADV_TYPE_FLAGS = const(0x01)
_ADV_TYPE_UUID128_COMPLETE = const(0x07)
_ADV_TYPE_NAME_COMPLETE = const(0x09)
_ADV_FLAGS_LE_ONLY_DISCOVERABLE = const(0x06)  # general discoverable, no BR/EDR
_ADV_INTERVAL_US = const(250_000)  # found within a second; little power while waiting

# Frames written faster than poll() runs wait here. A 2 KB request at 20 bytes a write
# is about 120 frames, but each waits for its write response, so the queue stays short
# unless the application is blocked; a dropped frame shows up as E_FRAME (a seq gap).
_QUEUE_MAX_EVENTS = const(64)

# Largest ATT MTU we accept: one frame of MAX_FRAME_BYTES plus the 3-byte ATT header.
_MTU_BYTES = const(515)


def _adv_field(ad_type, value):
    return bytes((len(value) + 1, ad_type)) + value


class BleRadio:
    def __init__(self, name, ble=None, on_event=None):
        self._ble = ble or bluetooth.BLE()
        self._ble.active(True)
        self._ble.config(gap_name=name, mtu=_MTU_BYTES)
        self._name = name
        self._on_event = on_event
        self._queue = []
        self._service_uuid = None
        self.dropped_events = 0
        self._ble.irq(self._irq)

    # -- the adapter interface of ble_provisioning --------------------------------------

    def register(self, service_uuid, characteristics):
        chars = []
        for uuid, flags in characteristics:
            chars.append((bluetooth.UUID(uuid), flags))
        service = (bluetooth.UUID(service_uuid), tuple(chars))
        handles = self._ble.gatts_register_services((service,))[0]
        self._service_uuid = service_uuid
        return tuple(handles)

    def set_buffer(self, handle, size_bytes):
        # append=False: each write replaces the value, one frame per write; the default
        # 20 bytes would truncate longer writes silently.
        self._ble.gatts_set_buffer(handle, min(size_bytes, MAX_FRAME_BYTES), False)

    def write(self, handle, data):
        self._ble.gatts_write(handle, data)

    def notify(self, conn_handle, handle, data):
        # Sent whether or not the phone subscribed; raises OSError when the stack's
        # queue is full or the link is gone (the caller counts it and moves on).
        self._ble.gatts_notify(conn_handle, handle, data)

    def advertise(self):
        adv = _adv_field(_ADV_TYPE_FLAGS, bytes((_ADV_FLAGS_LE_ONLY_DISCOVERABLE,)))
        if self._service_uuid is not None:
            # Web Bluetooth filters on the service UUID: it must be in the advertisement.
            uuid_bytes = bytes(bluetooth.UUID(self._service_uuid))
            adv += _adv_field(_ADV_TYPE_UUID128_COMPLETE, uuid_bytes)
        # 3 + 18 bytes above leave no room for the name in 31: it goes in the scan response
        resp = _adv_field(_ADV_TYPE_NAME_COMPLETE, self._name.encode())
        self._ble.gap_advertise(_ADV_INTERVAL_US, adv_data=adv, resp_data=resp, connectable=True)

    def disconnect(self, conn_handle):
        # The stack answers with _IRQ_CENTRAL_DISCONNECT, queued like any other; OSError
        # when the connection is already gone.
        try:
            self._ble.gap_disconnect(conn_handle)
        except OSError:
            pass

    def next_event(self):
        if not self._queue:
            return None
        return self._queue.pop(0)

    # -- IRQ context: queue and wake, nothing else ---------------------------------------

    def _push(self, event):
        if len(self._queue) >= _QUEUE_MAX_EVENTS:
            self.dropped_events += 1
            return
        self._queue.append(event)
        if self._on_event is not None:
            self._on_event()

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn_handle, value_handle = data
            # Read now: the next write replaces the value before poll() could read it.
            self._push((EV_WRITE, conn_handle, value_handle, self._ble.gatts_read(value_handle)))
        elif event == _IRQ_CENTRAL_CONNECT:
            # data also holds the address as a memoryview into a reused buffer: not kept
            self._push((EV_CONNECT, data[0], 0, None))
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self._push((EV_DISCONNECT, data[0], 0, None))
        elif event == _IRQ_MTU_EXCHANGED:
            self._push((EV_MTU, data[0], 0, data[1]))
