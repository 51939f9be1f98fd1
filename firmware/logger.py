"""The RS-Core logger: GNSS fixes and IMU samples into RS-Core CSV v1 session files
(docs/formats.md), one file per session.

    logger = Logger(gnss, imu, clock, storage, device_id="RS-Core-7F3A", firmware="0.1.0")
    await logger.run()            # or call logger.poll() every few milliseconds
    ...
    logger.close()                # ends the session in progress

What it is given (all injected, so the same code runs in tests):
    gnss     readinto(buf) -> number of bytes or None (a non-blocking machine.UART)
    imu      read() -> (ax_g, ay_g, az_g, gz_dps), vehicle frame: x forward, y left, z up;
             gz counter-clockwise positive. None: no IMU columns get values.
    clock    ticks_ms(), ticks_diff(new, old), sleep_ms(ms) -> awaitable
    storage  storage.Storage (open_session, close_session, make_room, sync_filesystem)

Sessions. Idle, the logger writes nothing. A valid fix faster than START_SPEED_KMH arms
it: rows go to RAM from that fix on. If every fix for START_HOLD_MS stays that fast, the
session is real and its file is created with everything since the arming fix (so the
first metres are in it); a slower or invalid fix before then drops the lot (a push across
the paddock is not a session). A session ends after STOP_HOLD_MS in which no valid fix
was faster than STOP_SPEED_KMH (standing, or no GNSS at all), by the logger's own clock;
the next motion starts a new file. A 20 s pit stop stays inside its session. A sync
started while the car stands ends the session at once (end_if_standing), so the session
just driven goes to the laptop too; `recording` says whether a session is open or being
confirmed (the device's `info` shows it, and a sync is refused or stopped while it is).

Time. time_ms on a fix row is its GNSS time (UTC date and time of day) since the session's
first fix, whose UTC time is session_start_utc. IMU rows are stamped by the logger's
clock, mapped onto GNSS time through the arrival of the fixes: the lowest delay seen
between a fix's epoch and its arrival is taken as the offset (it creeps up by CREEP_MS
per fix, to follow the clock's drift). NMEA cannot tell that smallest delay itself (the
receiver's computing plus the UART, some tens of ms), so IMU rows sit that much early
against the fixes: well below what lap timing or a g-g plot notices. An IMU sample waits
in RAM until the fix that may still precede it has arrived (or FIX_WAIT_MS has passed),
so rows are written in time order.

Durability. Rows are formatted into a preallocated buffer and written out at least every
FLUSH_INTERVAL_MS with flush and a filesystem sync: a power cut loses about a second (the
importer drops a half-written last line). Coordinates are written from integers (1e-7
degree): the ESP32's single-precision floats would lose decimetres.
"""

try:
    from micropython import const
except ImportError:  # CPython (host tests)

    def const(value):
        return value


import nmea

START_SPEED_KMH = 10.0
START_HOLD_MS = const(2000)
STOP_SPEED_KMH = 3.0
STOP_HOLD_MS = const(60000)
FLUSH_INTERVAL_MS = const(1000)
IMU_PERIOD_MS = const(20)  # 50 Hz
FIX_WAIT_MS = const(300)  # longer than any NMEA epoch's delay from its time to its arrival
CREEP_MS = const(1)
BUFFER_BYTES = const(8192)  # holds START_HOLD_MS of 25 Hz fixes and 50 Hz IMU rows
RX_BYTES = const(512)
ROOM_CHECK_MS = const(60000)
RETRY_MS = const(10000)  # after a write error or a full card, before arming again
MIN_RECORDING_FREE_BYTES = 1024 * 1024  # below this a session does not start / stops
POLL_MS = const(5)

MAGIC = "# racesense-csv 1"
COLUMNS = "time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps"

IDLE = "idle"
ARMING = "arming"
RECORDING = "recording"
NO_ROOM = "no_room"  # the card is full of unsynced sessions
ERROR = "error"  # the last write failed (card removed?); the next motion retries

_MS_PER_DAY = const(86400000)


def _deg7(value_e7):
    """Degrees times 10**7 as text with 7 decimals, without going through a float."""
    sign = "-" if value_e7 < 0 else ""
    value_e7 = -value_e7 if value_e7 < 0 else value_e7
    return f"{sign}{value_e7 // 10000000}.{value_e7 % 10000000:07d}"


def _f1(value):
    return "" if value is None else f"{value:.1f}"


def _course(value_deg):
    text = _f1(value_deg)
    return "0.0" if text == "360.0" else text  # 359.96 rounds to 360.0: it is north


def _iso_utc(days, time_ms):
    y, mo, d = nmea.civil_from_days(days)
    s = time_ms // 1000
    hh, mm, ss, ms = s // 3600, s // 60 % 60, s % 60, time_ms % 1000
    return f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def _file_stem(days, time_ms):
    y, mo, d = nmea.civil_from_days(days)
    s = time_ms // 1000
    return f"{y:04d}{mo:02d}{d:02d}-{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}"


class Logger:
    def __init__(
        self,
        gnss,
        imu,
        clock,
        storage,
        device_id,
        firmware,
        parser=None,
        imu_period_ms=IMU_PERIOD_MS,
        flush_interval_ms=FLUSH_INTERVAL_MS,
        log=print,
    ):
        for name, value in (("device_id", device_id), ("firmware", firmware)):
            if "\n" in value or "\r" in value:
                raise ValueError(name + " must be a single line")
        self._gnss = gnss
        self._imu = imu
        self._clock = clock
        self._storage = storage
        self._device_id = device_id
        self._firmware = firmware
        self._parser = parser or nmea.NmeaParser()
        self._imu_period_ms = imu_period_ms
        self._flush_interval_ms = flush_interval_ms
        self._log = log
        self._rx = bytearray(RX_BYTES)
        self._buf = bytearray(BUFFER_BYTES)
        self._used = 0
        self.state = IDLE
        self.session_path = None
        self.lines_written = 0  # lines of the current session, header included
        self._file = None
        self._imu_pending = []  # [(tick_ms, reading)] not yet written
        self._room_checked_tick = 0
        self._failed_tick = 0
        self._imu_errors = 0
        self._reset_session()

    # -- the loop -------------------------------------------------------------------------

    async def run(self, poll_ms=POLL_MS):
        while True:
            self.poll()
            await self._clock.sleep_ms(poll_ms)

    def poll(self):
        """One step: read the GNSS bytes waiting, log their fixes, sample the IMU when
        due, write out what is ready, flush when due, end a session after a standstill."""
        now = self._clock.ticks_ms()
        n = self._gnss.readinto(self._rx)
        if n:
            for fix in self._parser.feed(self._rx, n):
                self._on_fix(fix, now)
        if self.state == ARMING or self.state == RECORDING:
            self._maybe_sample_imu(now)
        if self.state == RECORDING:
            self._write_imu_rows(self._imu_stamp(now) - FIX_WAIT_MS)
            if self._clock.ticks_diff(now, self._last_motion_tick) >= STOP_HOLD_MS:
                self._end_session("standstill")
            elif self._clock.ticks_diff(now, self._flushed_tick) >= self._flush_interval_ms:
                self._flush(now)
            elif self._clock.ticks_diff(now, self._room_checked_tick) >= ROOM_CHECK_MS:
                self._check_room(now)
        elif self.state == ARMING and self._clock.ticks_diff(now, self._armed_tick) > (
            START_HOLD_MS + FIX_WAIT_MS
        ):
            self._reset_session()  # the fixes stopped coming while arming

    @property
    def recording(self):
        """True while a session is being recorded or motion is being confirmed."""
        return self.state == RECORDING or self.state == ARMING

    def standing_ms(self):
        """Milliseconds since the last fix faster than STOP_SPEED_KMH in this session (the
        logger's clock); None when no session is being recorded."""
        if self.state != RECORDING:
            return None
        return self._clock.ticks_diff(self._clock.ticks_ms(), self._last_motion_tick)

    def end_if_standing(self, min_standing_ms):
        """End the session now if the car has stood still for `min_standing_ms` (a sync
        is starting); True if a session was ended. A car confirming motion or moving
        keeps its session."""
        self.poll()  # the fixes already in the UART buffer first
        standing_ms = self.standing_ms()
        if standing_ms is None or standing_ms < min_standing_ms:
            return False
        self._end_session("a sync after " + str(standing_ms // 1000) + " s standing")
        return True

    def close(self):
        """End the session in progress (the last epoch the parser holds included); a
        session still arming is dropped."""
        fix = self._parser.flush()
        now = self._clock.ticks_ms()
        if fix is not None:
            self._on_fix(fix, now)
        if self.state == RECORDING:
            self._end_session("closed")
        elif self.state == ARMING:
            self._reset_session()

    # -- fixes ----------------------------------------------------------------------------

    def _on_fix(self, fix, now):
        if not fix.valid or fix.date is None:
            if self.state == ARMING:
                self._reset_session()  # motion not confirmed
            return
        days = nmea.days_from_civil(fix.date[0], fix.date[1], fix.date[2])
        speed_kmh = fix.speed_kmh or 0.0
        if self.state != ARMING and self.state != RECORDING:
            if speed_kmh > START_SPEED_KMH and self._may_arm(now):
                self._arm(fix, days, now)
            return
        t_ms = (days - self._start_days) * _MS_PER_DAY + fix.time_ms - self._start_time_ms
        if t_ms <= self._last_fix_ms:
            return  # a repeated or out-of-order epoch
        self._track_latency(now, t_ms)
        if speed_kmh > STOP_SPEED_KMH:
            self._last_motion_tick = now
        if self.state == ARMING:
            if speed_kmh <= START_SPEED_KMH:
                self._reset_session()
                return
            self._write_fix_row(fix, t_ms)
            if t_ms >= START_HOLD_MS:
                self._start_recording(now)
        else:
            self._write_fix_row(fix, t_ms)

    def _may_arm(self, now):
        if self.state == IDLE:
            return True
        # NO_ROOM or ERROR: try again now and then, not at every fix.
        return self._clock.ticks_diff(now, self._failed_tick) >= RETRY_MS

    def _arm(self, fix, days, now):
        self._reset_session()
        self.state = ARMING
        self._start_days = days
        self._start_time_ms = fix.time_ms
        self._armed_tick = now
        self._tick0 = now  # fix time 0 arrived at this tick
        self._lag_ms = 0
        self._last_motion_tick = now
        self._imu_due_ms = 0
        self._append(
            MAGIC
            + "\n# device_id="
            + self._device_id
            + "\n# firmware="
            + self._firmware
            + "\n# session_start_utc="
            + _iso_utc(days, fix.time_ms)
            + "\n"
            + COLUMNS
            + "\n"
        )
        self._write_fix_row(fix, 0)

    def _track_latency(self, now, t_ms):
        """Lowest delay from a fix's epoch to its arrival so far, relative to the first
        fix's: the clock-to-GNSS mapping for IMU rows."""
        lag = self._clock.ticks_diff(now, self._tick0) - t_ms
        if lag < self._lag_ms:
            self._lag_ms = lag
        elif lag > self._lag_ms:
            self._lag_ms += CREEP_MS

    def _imu_stamp(self, tick):
        return self._clock.ticks_diff(tick, self._tick0) - self._lag_ms

    def _write_fix_row(self, fix, t_ms):
        self._write_imu_rows(t_ms - 1)  # the IMU samples from before this epoch first
        self._append(
            "{},{},{},{},{},{},{},{},,,,\n".format(
                t_ms,
                _deg7(fix.lat_e7),
                _deg7(fix.lon_e7),
                _f1(fix.alt_m),
                _f1(fix.speed_kmh),
                _course(fix.course_deg),
                "" if fix.sats is None else fix.sats,
                _f1(fix.hdop),
            )
        )
        self._last_fix_ms = t_ms
        self._last_row_ms = t_ms

    # -- IMU ------------------------------------------------------------------------------

    def _maybe_sample_imu(self, now):
        # The schedule is kept in ms since the session's first fix, not in ticks: adding
        # to a tick count leaves MicroPython's wrapping small-int range.
        if self._imu is None:
            return
        since_ms = self._clock.ticks_diff(now, self._tick0)
        if since_ms < self._imu_due_ms:
            return
        try:
            reading = self._imu.read()
        except OSError as exc:  # an I2C hiccup costs one sample, not the session
            self._imu_errors += 1
            if self._imu_errors == 1:
                self._log("logger: IMU read failed: " + repr(exc))
        else:
            self._imu_pending.append((now, reading))
        self._imu_due_ms += self._imu_period_ms
        if since_ms >= self._imu_due_ms:
            self._imu_due_ms = since_ms + self._imu_period_ms  # fell behind: skip, no burst

    def _write_imu_rows(self, up_to_ms):
        """Write the waiting IMU samples stamped up to `up_to_ms`, in order."""
        pending = self._imu_pending
        done = 0
        for tick, reading in pending:
            t_ms = self._imu_stamp(tick)
            if t_ms > up_to_ms:
                break
            done += 1
            if t_ms <= self._last_row_ms:
                continue  # would go back in time (the mapping moved): drop one sample
            ax, ay, az, gz = reading
            self._append(f"{t_ms},,,,,,,,{ax:.2f},{ay:.2f},{az:.2f},{gz:.1f}\n")
            self._last_row_ms = t_ms
        if done:
            del pending[:done]

    # -- the file -------------------------------------------------------------------------

    def _append(self, row):
        data = row.encode()
        if self._used + len(data) > len(self._buf):
            if self.state == ARMING:
                self._start_recording(self._clock.ticks_ms())  # long enough: it is real
                if self.state != RECORDING:
                    return
            self._write_out()
        if self.state != ARMING and self.state != RECORDING:
            return  # the session ended on a write error just now
        self._buf[self._used : self._used + len(data)] = data
        self._used += len(data)
        self.lines_written += 1

    def _start_recording(self, now):
        if self._check_room(now) < MIN_RECORDING_FREE_BYTES:
            self._log("logger: card full of unsynced sessions: not recording")
            self._reset_session()
            self.state = NO_ROOM
            self._failed_tick = now
            return
        stem = _file_stem(self._start_days, self._start_time_ms)
        try:
            self.session_path, self._file = self._storage.open_session(stem)
        except OSError as exc:
            self._fail("cannot create the session file", exc)
            return
        self.state = RECORDING
        self._log("logger: recording " + self.session_path)
        self._flush(now)

    def _write_out(self):
        if self._file is None or not self._used:
            return
        try:
            self._file.write(memoryview(self._buf)[: self._used])
        except OSError as exc:
            self._fail("write failed", exc)
            return
        self._used = 0

    def _flush(self, now):
        self._write_out()
        if self._file is not None:
            try:
                self._file.flush()
                self._storage.sync_filesystem()
            except OSError as exc:
                self._fail("flush failed", exc)
                return
        self._flushed_tick = now

    def _check_room(self, now):
        self._room_checked_tick = now
        try:
            free = self._storage.make_room()
        except OSError as exc:
            self._log("logger: cannot check free space: " + repr(exc))
            return MIN_RECORDING_FREE_BYTES  # do not stop recording over a failed check
        if self.state == RECORDING and free < MIN_RECORDING_FREE_BYTES:
            self._end_session("card full")
            self.state = NO_ROOM
            self._failed_tick = now
        return free

    def _end_session(self, why):
        if self.state == RECORDING:
            self._write_imu_rows(self._last_fix_ms + FIX_WAIT_MS)
            self._flush(self._clock.ticks_ms())
        path = self.session_path
        self._close_file()
        if path is not None:
            self._log("logger: session " + path + " ended (" + why + ")")
        self._reset_session()

    def _fail(self, what, exc):
        self._log("logger: " + what + ": " + repr(exc))
        self._close_file()
        self._reset_session()
        self.state = ERROR
        self._failed_tick = self._clock.ticks_ms()

    def _close_file(self):
        f = self._file
        self._file = None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                self._log("logger: close failed: " + repr(exc))
        if self.session_path is not None:
            self._storage.close_session(self.session_path)

    def _reset_session(self):
        self.state = IDLE
        self.session_path = None
        self._file = None
        self._used = 0
        self.lines_written = 0
        self._imu_pending = []
        self._start_days = 0
        self._start_time_ms = 0
        self._last_fix_ms = -1
        self._last_row_ms = -1
        self._tick0 = 0
        self._lag_ms = 0
        self._armed_tick = 0
        self._last_motion_tick = 0
        self._flushed_tick = 0
        self._imu_due_ms = 0
