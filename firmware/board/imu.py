"""A generic MPU-6050-style IMU on I2C (MPU-6050, MPU-6500, MPU-9250 and clones share
these registers), giving the logger vehicle-frame values: read() -> (ax_g, ay_g, az_g,
gz_dps) with x forward, y left, z up and the yaw rate counter-clockwise positive.

    imu = open_imu()                       # on the board (imports machine here only)
    imu = Mpu6050(i2c, axes="xyz")         # any object with readfrom_mem_into/writeto_mem

`axes` says which sensor axis (with its sign) points forward, left and up once the board
is mounted: "xyz" is the chip as printed on most breakouts lying flat with its x arrow
forward; a board turned 90 degrees left is "y-xz" (forward = sensor y, left = -sensor x).
The gyro's bias is measured at start-up while the car stands (calibrate_gyro): MEMS gyros
are off by a few deg/s, which would read as a slow turn all session.
"""

_ADDRESS = 0x68
_REG_SMPLRT_DIV = 0x19
_REG_CONFIG = 0x1A
_REG_GYRO_CONFIG = 0x1B
_REG_ACCEL_CONFIG = 0x1C
_REG_ACCEL_XOUT_H = 0x3B
_REG_PWR_MGMT_1 = 0x6B
_REG_WHO_AM_I = 0x75

_ACCEL_4G = 0x08  # +-4 g: a car's 1.5 g with margin for kerbs
_GYRO_500DPS = 0x08  # +-500 deg/s
_LSB_PER_G = 8192.0
_LSB_PER_DPS = 65.5
_DLPF_44HZ = 0x03  # low-pass below the 50 Hz sampling: vibration does not alias in
_CLOCK_PLL_X = 0x01  # the gyro's PLL is steadier than the internal oscillator

I2C_ID = 0
SDA_PIN = 21
SCL_PIN = 22
I2C_HZ = 400000


def _parse_axes(axes):
    """ "xyz" / "y-xz" / "-x-yz" -> ((index, sign) forward, left, up)."""
    out = []
    sign = 1
    for c in axes:
        if c == "-":
            sign = -1
            continue
        if c not in "xyz":
            raise ValueError("axes: letters x, y, z, each optionally after '-'")
        out.append(("xyz".index(c), sign))
        sign = 1
    if len(out) != 3 or len({i for i, _ in out}) != 3:
        raise ValueError("axes must name x, y and z once each")
    return tuple(out)


def _s16(buf, i):
    value = buf[i] << 8 | buf[i + 1]
    return value - 65536 if value & 0x8000 else value


class Mpu6050:
    def __init__(self, i2c, axes="xyz", address=_ADDRESS):
        self._i2c = i2c
        self._address = address
        self._axes = _parse_axes(axes)
        self._raw = bytearray(14)  # accel x y z, temperature, gyro x y z
        self._gyro_bias_dps = [0.0, 0.0, 0.0]
        self._write(_REG_PWR_MGMT_1, _CLOCK_PLL_X)  # wake from sleep
        self._write(_REG_CONFIG, _DLPF_44HZ)
        self._write(_REG_SMPLRT_DIV, 9)  # 1 kHz / (1 + 9) = 100 Hz internal rate
        self._write(_REG_ACCEL_CONFIG, _ACCEL_4G)
        self._write(_REG_GYRO_CONFIG, _GYRO_500DPS)

    def who_am_i(self):
        buf = bytearray(1)
        self._i2c.readfrom_mem_into(self._address, _REG_WHO_AM_I, buf)
        return buf[0]

    def calibrate_gyro(self, samples=100):
        """Average the gyro over `samples` reads as its bias; call while standing still."""
        total = [0.0, 0.0, 0.0]
        for _ in range(samples):
            gyro = self._sensor_gyro_dps()
            for k in range(3):
                total[k] += gyro[k]
        self._gyro_bias_dps = [t / samples for t in total]

    def read(self):
        raw = self._raw
        self._i2c.readfrom_mem_into(self._address, _REG_ACCEL_XOUT_H, raw)
        accel = (_s16(raw, 0), _s16(raw, 2), _s16(raw, 4))
        (fi, fs), (li, ls), (ui, us) = self._axes
        gyro_raw = (_s16(raw, 8), _s16(raw, 10), _s16(raw, 12))
        bias = self._gyro_bias_dps
        # Vehicle yaw is about "up": the sensor axis mounted up, signed like it.
        gz_dps = us * (gyro_raw[ui] / _LSB_PER_DPS - bias[ui])
        return (
            fs * accel[fi] / _LSB_PER_G,
            ls * accel[li] / _LSB_PER_G,
            us * accel[ui] / _LSB_PER_G,
            gz_dps,
        )

    def _sensor_gyro_dps(self):
        raw = self._raw
        self._i2c.readfrom_mem_into(self._address, _REG_ACCEL_XOUT_H, raw)
        return (
            _s16(raw, 8) / _LSB_PER_DPS,
            _s16(raw, 10) / _LSB_PER_DPS,
            _s16(raw, 12) / _LSB_PER_DPS,
        )

    def _write(self, register, value):
        self._i2c.writeto_mem(self._address, register, bytes((value,)))


def open_imu(axes="xyz"):
    """The board's IMU, its gyro calibrated; None (logged) when it does not answer, so
    the logger still records GNSS."""
    from machine import I2C, Pin

    try:
        imu = Mpu6050(I2C(I2C_ID, sda=Pin(SDA_PIN), scl=Pin(SCL_PIN), freq=I2C_HZ), axes=axes)
        imu.calibrate_gyro()
    except OSError as exc:
        print("imu: none on I2C (" + repr(exc) + "): logging without IMU columns")
        return None
    return imu
