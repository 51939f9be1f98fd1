"""firmware/logger.py: sessions, RS-Core CSV rows, buffering and flushing. Runs under
pytest and MicroPython; a simulated car, GNSS receiver, IMU and clock drive the logger
in 5 ms steps, each test in a fresh working directory."""

import os

import logger as lg
from storage import Storage

STEP_MS = 5
TICK_OFFSET = 1234567  # the logger's clock has nothing to do with UTC
START_TOD_MS = (9 * 3600 + 30 * 60) * 1000  # 09:30:00.000 UTC
HEADER = "time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps"


def sentence(body):
    checksum = 0
    for c in body.encode():
        checksum ^= c
    return ("$" + body + "*" + f"{checksum:02X}" + "\r\n").encode()


def nmea_minutes(value_deg, degree_digits):
    """(d)ddmm.mmmmmm text of a non-negative angle, from integer micro-minutes."""
    micro_minutes = round(value_deg * 60 * 1000000)
    degrees, rest = micro_minutes // 60000000, micro_minutes % 60000000
    text = str(degrees)
    while len(text) < degree_digits:
        text = "0" + text
    minutes = f"{rest // 1000000:02d}.{rest % 1000000:06d}"
    return text + minutes


class Clock:
    def __init__(self):
        self.now = TICK_OFFSET

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, new, old):
        return new - old

    def sleep_ms(self, ms):
        raise AssertionError("the tests step the logger themselves")


class Gnss:
    """A UART: bytes queued by the simulation, handed out by readinto."""

    def __init__(self):
        self.data = b""

    def readinto(self, buf):
        n = min(len(buf), len(self.data))
        if not n:
            return None
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class Imu:
    def __init__(self):
        self.reads = 0
        self.fail = False

    def read(self):
        if self.fail:
            raise OSError(5)
        self.reads += 1
        return (0.25, -0.5, 1.0, -12.5)


class SyncCountingOs:
    def __init__(self):
        self.syncs = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def sync(self):
        self.syncs += 1


class Car:
    """Drives east at 52 N; the receiver reports every epoch `latency_ms` after its time."""

    def __init__(self, rate_hz=10, free_bytes=10**9, imu=True, latency_ms=(60,), root="sd"):
        self.clock = Clock()
        self.gnss = Gnss()
        self.imu = Imu() if imu else None
        self.os = SyncCountingOs()
        free_blocks = free_bytes // 512
        self.root = root
        self.storage = Storage(
            root,
            os_module=self.os,
            statvfs=lambda path: (512, 512, free_blocks, free_blocks, free_blocks, 0, 0, 0, 0, 255),
        )
        self.logger = lg.Logger(
            self.gnss,
            self.imu,
            self.clock,
            self.storage,
            device_id="RS-Core-TEST",
            firmware="9.9.9",
            log=lambda *a: None,
        )
        self.period_ms = 1000 // rate_hz
        self.latency_ms = latency_ms
        self.sim_ms = 0  # since START_TOD_MS
        self.next_epoch_ms = 0
        self.lon_deg = 1.0
        self.queue = []  # (due sim_ms, bytes)
        self.epochs = 0
        self.date = (2026, 2, 14)

    def epoch_bytes(self, t_ms, speed_kmh, fix):
        day_ms = 86400000
        days = lg.nmea.days_from_civil(*self.date) + (START_TOD_MS + t_ms) // day_ms
        y, m, d = lg.nmea.civil_from_days(days)
        tod = (START_TOD_MS + t_ms) % day_ms
        s = tod // 1000
        time = f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}.{tod % 1000 // 10:02d}"
        date = f"{d:02d}{m:02d}{y % 100:02d}"
        if not fix:
            return sentence(f"GNRMC,{time},V,,,,,,,{date},,,N") + sentence(
                f"GNGGA,{time},,,,,0,00,99.9,,,,,,"
            )
        lat = nmea_minutes(52.0, 2)
        lon = nmea_minutes(self.lon_deg, 3)
        knots = f"{speed_kmh / 1.852:.3f}"
        rmc = f"GNRMC,{time},A,{lat},N,{lon},E,{knots},90.0,{date},,,A"
        gga = f"GNGGA,{time},{lat},N,{lon},E,1,12,0.8,101.5,M,47.0,M,,"
        return sentence(rmc) + sentence(gga)

    def run(self, seconds, speed_kmh, fix=True, gnss=True):
        end_ms = self.sim_ms + int(seconds * 1000)
        while self.sim_ms < end_ms:
            if self.sim_ms >= self.next_epoch_ms:
                t = self.next_epoch_ms
                self.lon_deg += speed_kmh / 3.6 * self.period_ms / 1000 / 68600.0
                if gnss:
                    latency = self.latency_ms[self.epochs % len(self.latency_ms)]
                    self.queue.append((t + latency, self.epoch_bytes(t, speed_kmh, fix)))
                self.epochs += 1
                self.next_epoch_ms += self.period_ms
            while self.queue and self.queue[0][0] <= self.sim_ms:
                self.gnss.data += self.queue.pop(0)[1]
            self.logger.poll()
            self.sim_ms += STEP_MS
            self.clock.now += STEP_MS

    def files(self):
        return sorted(n for n in os.listdir(self.root) if n.endswith(".csv"))


def read_session(path):
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    assert lines[-1] == ""  # every line ends with \n
    return lines[:-1]


def data_rows(lines):
    return [line.split(",") for line in lines[5:]]


def test_standing_still_writes_nothing():
    car = Car()
    car.run(20, 0.0)
    car.run(5, 2.5)  # creeping below the start speed
    assert car.files() == []
    assert car.logger.state == lg.IDLE
    assert car.imu.reads == 0  # idle: the IMU is not even read


def test_motion_after_standstill_starts_a_session_with_the_exact_header():
    car = Car()
    car.run(10, 0.0)
    car.run(5, 60.0)
    assert car.logger.state == lg.RECORDING
    assert car.files() == ["20260214-093010.csv"]  # named after its first fix (10 s in)
    car.logger.close()
    lines = read_session("sd/20260214-093010.csv")
    assert lines[:5] == [
        "# racesense-csv 1",
        "# device_id=RS-Core-TEST",
        "# firmware=9.9.9",
        "# session_start_utc=2026-02-14T09:30:10.000Z",
        HEADER,
    ]
    first = data_rows(lines)[0]
    assert first[0] == "0" and first[1] == "52.0000000" and first[4] == "60.0"
    assert first[6:8] == ["12", "0.8"] and first[3] == "101.5" and first[5] == "90.0"
    assert car.storage.pending() == [
        ("sd/20260214-093010.csv", os.stat("sd/20260214-093010.csv")[6])
    ]


def test_a_short_burst_is_not_a_session():
    car = Car()
    car.run(1.5, 25.0)
    car.run(5, 0.0)
    car.run(1.0, 40.0)
    car.run(5, 5.0)
    assert car.files() == []
    assert car.logger.state == lg.IDLE


def test_rows_follow_the_format_in_time_order():
    car = Car(latency_ms=(40, 90, 55, 120, 35))  # jittery receiver
    car.run(3, 0.0)
    car.run(20, 80.0)
    car.logger.close()
    rows = data_rows(read_session("sd/" + car.files()[0]))
    times = [int(r[0]) for r in rows]
    for i in range(1, len(times)):
        assert times[i] > times[i - 1], "time_ms must increase"
    fixes = [r for r in rows if r[1]]
    imu = [r for r in rows if not r[1]]
    assert all(len(r) == 12 for r in rows)
    # 10 Hz fixes on the 100 ms grid; IMU at about 50 Hz in between.
    assert [int(r[0]) for r in fixes] == list(range(0, 100 * len(fixes), 100))
    assert 190 <= len(fixes) <= 200
    assert 45 * 19 <= len(imu) <= 50 * 20 + 5
    for r in fixes:
        assert r[8:] == ["", "", "", ""]
        assert len(r[1].split(".")[1]) == 7 and len(r[2].split(".")[1]) == 7
    for r in imu:
        assert r[1:8] == [""] * 7
        assert r[8:] == ["0.25", "-0.50", "1.00", "-12.5"]


def test_buffered_rows_reach_the_card_at_least_every_second():
    car = Car()
    car.run(2, 0.0)
    car.run(2.5, 60.0)  # confirmed after 2 s: the file exists and is flushed
    path = "sd/" + car.files()[0]
    syncs_before = car.os.syncs
    for _ in range(10):
        car.run(1.0, 60.0)
        rows = data_rows(read_session(path)[: -1 or None])  # as a power cut would leave it
        last_on_card_ms = max(int(r[0]) for r in rows if r[0])
        newest_fix_ms = (car.epochs - 1) * 100 - 2000  # session time of the newest epoch
        assert newest_fix_ms - last_on_card_ms <= 1000 + 300, (newest_fix_ms, last_on_card_ms)
    # Flush plus filesystem sync about once a second, not per row.
    assert 9 <= car.os.syncs - syncs_before <= 11
    car.logger.close()


def test_long_standstill_ends_the_session_and_motion_starts_the_next():
    car = Car()
    car.run(5, 50.0)
    car.run(30, 0.0)  # a pit stop: same session
    car.run(5, 50.0)
    assert len(car.files()) == 1 and car.logger.state == lg.RECORDING
    car.run(lg.STOP_HOLD_MS / 1000 + 1, 0.0)
    assert car.logger.state == lg.IDLE
    first = car.files()[0]
    assert car.storage.pending() == [("sd/" + first, os.stat("sd/" + first)[6])]
    rows = data_rows(read_session("sd/" + first))
    assert int(rows[-1][0]) > 40000  # the standstill is in the file up to its end
    car.run(5, 50.0)
    assert len(car.files()) == 2 and car.logger.state == lg.RECORDING
    assert [p for p, _ in car.storage.pending()] == ["sd/" + first]  # not the growing one
    car.logger.close()
    assert len(car.storage.pending()) == 2


def test_recording_says_whether_a_session_is_open_or_being_confirmed():
    car = Car()
    assert not car.logger.recording
    car.run(1, 50.0)
    assert car.logger.state == lg.ARMING and car.logger.recording
    car.run(3, 50.0)
    assert car.logger.state == lg.RECORDING and car.logger.recording
    car.logger.close()
    assert not car.logger.recording


def test_a_sync_after_a_standstill_ends_the_session_so_it_is_pending():
    # The session stays open STOP_HOLD_MS (60 s) after the car stops; a sync starting
    # in the meantime must not leave it behind and still say "done".
    car = Car()
    car.run(10, 80.0)
    car.run(3, 0.0)
    assert not car.logger.end_if_standing(5000)  # 3 s standing: could be a slow corner
    assert car.logger.recording and car.storage.pending() == []
    car.run(3, 0.0)
    assert 5000 <= car.logger.standing_ms() < 7000
    assert car.logger.end_if_standing(5000)
    assert not car.logger.recording and car.logger.state == lg.IDLE
    (name,) = car.files()
    assert car.storage.pending() == [("sd/" + name, os.stat("sd/" + name)[6])]
    rows = data_rows(read_session("sd/" + name))
    assert int(rows[-1][0]) > 12000  # the standstill up to the sync is in the file
    car.run(5, 0.0)  # still standing: nothing new starts
    assert car.files() == [name] and not car.logger.recording


def test_a_moving_car_keeps_its_session_when_a_sync_asks():
    car = Car()
    car.run(10, 80.0)
    assert not car.logger.end_if_standing(5000)
    assert car.logger.state == lg.RECORDING
    car.logger.close()


def test_losing_gnss_counts_as_standing_still_and_imu_rows_go_on():
    car = Car()
    car.run(5, 50.0)
    car.run(10, 50.0, gnss=False)  # a tunnel
    car.run(5, 50.0)
    assert car.logger.state == lg.RECORDING
    car.logger.close()
    rows = data_rows(read_session("sd/" + car.files()[0]))
    gap = [int(r[0]) for r in rows if not r[1] and 4000 < int(r[0]) < 12000]
    assert len(gap) > 300  # IMU rows through the gap, on the logger's clock
    car2 = Car(root="sd2")
    car2.run(5, 50.0)
    car2.run(lg.STOP_HOLD_MS / 1000 + 1, 50.0, fix=False)  # receiver lost its fix
    assert car2.logger.state == lg.IDLE and len(car2.files()) == 1


def test_session_across_midnight_keeps_counting():
    car = Car()
    car.sim_ms = car.next_epoch_ms = 86400000 - START_TOD_MS - 5000  # 23:59:55
    car.run(10, 70.0)
    car.logger.close()
    name = car.files()[0]
    assert name == "20260214-235955.csv"
    lines = read_session("sd/" + name)
    assert lines[3] == "# session_start_utc=2026-02-14T23:59:55.000Z"
    fixes = [int(r[0]) for r in data_rows(lines) if r[1]]
    assert fixes == list(range(0, 100 * len(fixes), 100)) and fixes[-1] > 6000


def test_no_imu_means_empty_imu_columns():
    car = Car(imu=False)
    car.run(4, 50.0)
    car.logger.close()
    rows = data_rows(read_session("sd/" + car.files()[0]))
    assert all(r[1] and r[8:] == ["", "", "", ""] for r in rows)


def test_imu_errors_cost_samples_not_the_session():
    car = Car()
    car.run(3, 50.0)
    car.imu.fail = True
    car.run(2, 50.0)
    car.imu.fail = False
    car.run(2, 50.0)
    assert car.logger.state == lg.RECORDING
    car.logger.close()
    assert len(data_rows(read_session("sd/" + car.files()[0]))) > 70


def test_a_full_card_records_nothing():
    car = Car(free_bytes=lg.MIN_RECORDING_FREE_BYTES - 1)
    car.run(30, 50.0)
    assert car.files() == []
    assert car.logger.state == lg.NO_ROOM  # and it does not re-arm at every fix


def test_write_errors_end_the_session_without_crashing():
    car = Car()
    car.run(3, 50.0)

    class BrokenFile:
        def write(self, data):
            raise OSError(5)

        def flush(self):
            raise OSError(5)

        def close(self):
            pass

    car.logger._file.close()
    car.logger._file = BrokenFile()  # the card was pulled out
    car.run(2, 50.0)
    assert car.logger.state == lg.ERROR
    assert car.storage.pending() != []  # the file it had is left as it was: pending
    car.run(lg.RETRY_MS / 1000 - 3, 50.0)
    assert car.logger.state == lg.ERROR  # no new file at every fix
    car.run(4, 50.0)  # then motion tries again
    assert car.logger.state == lg.RECORDING
    assert len(car.files()) == 2
    car.logger.close()


class FakeMpuI2c:
    """Registers of an MPU-6050 lying flat, turned 90 degrees left on its mount: the
    car's forward is the chip's +y, the car's left is the chip's -x."""

    def __init__(self, accel_lsb, gyro_lsb):
        self.accel_lsb = accel_lsb
        self.gyro_lsb = gyro_lsb
        self.writes = {}

    def writeto_mem(self, address, register, data):
        self.writes[register] = data[0]

    def readfrom_mem_into(self, address, register, buf):
        assert address == 0x68 and register == 0x3B and len(buf) == 14
        values = list(self.accel_lsb) + [0] + list(self.gyro_lsb)
        for k, v in enumerate(values):
            v &= 0xFFFF
            buf[2 * k] = v >> 8
            buf[2 * k + 1] = v & 0xFF


def test_board_imu_driver_gives_the_logger_vehicle_frame_values():
    from board.imu import Mpu6050

    # Braking at 0.5 g (the car's -x is the chip's -y) in a left turn: 0.25 g to the left
    # (the car's +y is the chip's -x), 1 g up, yawing left at 20 deg/s (about the chip's
    # +z) through a gyro that reads 1.5 deg/s standing still.
    i2c = FakeMpuI2c((-2048, -4096, 8192), (0, 0, round(1.5 * 65.5)))
    imu = Mpu6050(i2c, axes="y-xz")
    assert i2c.writes[0x6B] == 0x01 and i2c.writes[0x1C] == 0x08  # awake, +-4 g
    imu.calibrate_gyro(samples=4)  # standing: the bias
    i2c.gyro_lsb = (0, 0, round(21.5 * 65.5))
    ax, ay, az, gz = imu.read()
    assert (ax, ay, az) == (-0.5, 0.25, 1.0)
    assert abs(gz - 20.0) < 0.02
    for bad in ("xy", "xxz", "xyw"):
        try:
            Mpu6050(i2c, axes=bad)
        except ValueError:
            continue
        raise AssertionError("accepted axes " + bad)
