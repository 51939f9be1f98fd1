"""firmware/storage.py: pending files, durable sync marks, room on the card. Runs under
pytest and MicroPython, each test in a fresh working directory."""

import os

from storage import JOURNAL_NAME, JOURNAL_TMP_NAME, Storage

ROOT = "sd/sessions"
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4


class Card:
    """statvfs of a card of `capacity_bytes` that holds only the files under ROOT."""

    def __init__(self, capacity_bytes):
        self.capacity_bytes = capacity_bytes

    def used_bytes(self):
        return sum(os.stat(ROOT + "/" + n)[6] for n in os.listdir(ROOT))

    def __call__(self, path):
        free_blocks = (self.capacity_bytes - self.used_bytes()) // 512
        return (512, 512, self.capacity_bytes // 512, free_blocks, free_blocks, 0, 0, 0, 0, 255)


class SyncCountingOs:
    """The real os, plus a sync() that counts (the unix port and CPython have none)."""

    def __init__(self):
        self.syncs = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def sync(self):
        self.syncs += 1


def make_storage(capacity_bytes=10**6, min_free_bytes=1000, os_module=os):
    return Storage(
        ROOT, os_module=os_module, statvfs=Card(capacity_bytes), min_free_bytes=min_free_bytes
    )


def record(storage, stem, size_bytes):
    path, f = storage.open_session(stem)
    f.write(b"x" * size_bytes)
    f.close()
    storage.close_session(path)
    return path


def test_pending_lists_finished_sessions_oldest_first():
    storage = make_storage()
    b = record(storage, "20260214-100000", 300)
    a = record(storage, "20260214-093000", 200)
    active, f = storage.open_session("20260214-110000")
    f.write(b"growing")
    assert storage.pending() == [(a, 200), (b, 300)]  # the open session is not pending
    assert storage.pending_summary() == (2, 500)
    f.close()
    storage.close_session(active)
    assert [p for p, _ in storage.pending()] == [a, b, active]


def test_other_files_are_not_sessions():
    storage = make_storage()
    with open(ROOT + "/notes.txt", "w") as f:
        f.write("not a session")
    record(storage, "20260214-093000", 10)
    assert [p[len(ROOT) + 1 :] for p, _ in storage.pending()] == ["20260214-093000.csv"]


def test_mark_synced_is_durable_across_restarts():
    counting_os = SyncCountingOs()
    storage = make_storage(os_module=counting_os)
    a = record(storage, "20260214-093000", 200)
    b = record(storage, "20260214-100000", 300)
    storage.mark_synced(a, SHA_A.upper())
    assert counting_os.syncs >= 1  # the mark reached the card before returning
    assert storage.pending() == [(b, 300)]
    assert storage.is_synced(a) and not storage.is_synced(b)
    restarted = make_storage()  # a power cycle: only what is on the card counts
    assert restarted.pending() == [(b, 300)]
    with open(ROOT + "/" + JOURNAL_NAME) as f:
        assert f.read() == "synced 20260214-093000.csv 200 " + SHA_A + "\n"


def test_torn_journal_line_leaves_the_file_pending():
    storage = make_storage()
    a = record(storage, "20260214-093000", 200)
    b = record(storage, "20260214-100000", 300)
    storage.mark_synced(a, SHA_A)
    with open(ROOT + "/" + JOURNAL_NAME, "a") as f:
        f.write("synced 20260214-100000.csv 300 0123")  # power cut mid-append
    restarted = make_storage()
    assert restarted.pending() == [(b, 300)]
    assert restarted.is_synced(a)


def test_file_that_changed_after_its_sync_is_pending_again():
    storage = make_storage()
    a = record(storage, "20260214-093000", 200)
    storage.mark_synced(a, SHA_A)
    with open(a, "ab") as f:
        f.write(b"more")
    assert make_storage().pending() == [(a, 204)]


def test_mark_synced_checks_its_arguments():
    storage = make_storage()
    a = record(storage, "20260214-093000", 200)
    for bad in ("", "xyz", SHA_A[:-1], SHA_A + "0", "g" * 64):
        try:
            storage.mark_synced(a, bad)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted " + repr(bad))
    try:
        storage.mark_synced(ROOT + "/missing.csv", SHA_A)
    except OSError:
        pass
    else:
        raise AssertionError("marked a missing file")
    assert storage.pending() == [(a, 200)]


def test_low_space_deletes_synced_files_oldest_first_and_nothing_else():
    storage = make_storage(capacity_bytes=10000, min_free_bytes=5000)
    old_synced = record(storage, "20260214-080000", 1500)
    unsynced = record(storage, "20260214-090000", 1500)
    mid_synced = record(storage, "20260214-100000", 1500)
    new_synced = record(storage, "20260214-110000", 1500)
    for path in (old_synced, mid_synced, new_synced):
        storage.mark_synced(path, SHA_A)
    # 6000 of 10000 bytes used (journal aside): free ~4000 < 5000: one file must go.
    free = storage.make_room()
    assert free >= 5000
    left = sorted(n for n in os.listdir(ROOT) if n.endswith(".csv"))
    assert left == ["20260214-090000.csv", "20260214-100000.csv", "20260214-110000.csv"]
    assert storage.pending() == [(unsynced, 1500)]
    # The journal forgets the deleted file.
    with open(ROOT + "/" + JOURNAL_NAME) as f:
        assert "20260214-080000" not in f.read()


def test_low_space_never_deletes_unsynced_or_active_files():
    storage = make_storage(capacity_bytes=10000, min_free_bytes=9000)
    a = record(storage, "20260214-080000", 2000)
    b = record(storage, "20260214-090000", 2000)
    active, f = storage.open_session("20260214-100000")
    f.write(b"x" * 2000)
    f.flush()
    storage.mark_synced(b, SHA_B)
    free = storage.make_room()
    assert free < 9000  # not enough, and that is all it may do
    left = sorted(n for n in os.listdir(ROOT) if n.endswith(".csv"))
    assert left == ["20260214-080000.csv", "20260214-100000.csv"]
    assert storage.pending() == [(a, 2000)]
    f.close()
    storage.close_session(active)


def test_plenty_of_space_deletes_nothing():
    storage = make_storage(capacity_bytes=10**6, min_free_bytes=1000)
    a = record(storage, "20260214-080000", 100)
    storage.mark_synced(a, SHA_A)
    storage.make_room()
    assert os.stat(a)[6] == 100


def test_a_new_file_never_inherits_a_deleted_files_sync_mark():
    storage = make_storage(capacity_bytes=5000, min_free_bytes=4500)
    a = record(storage, "20260214-080000", 1000)
    storage.mark_synced(a, SHA_A)
    storage.make_room()
    assert not os.listdir(ROOT).count("20260214-080000.csv")
    again = record(storage, "20260214-080000", 1000)  # same name, same size
    assert storage.pending() == [(again, 1000)]
    assert make_storage(capacity_bytes=5000, min_free_bytes=0).pending() == [(again, 1000)]


def test_same_start_second_gets_a_suffix_that_sorts_after():
    storage = make_storage()
    first = record(storage, "20260214-093000", 10)
    second = record(storage, "20260214-093000", 20)
    assert second.endswith("20260214-093000_1.csv")
    assert storage.pending() == [(first, 10), (second, 20)]


def test_journal_rewrite_cut_short_is_recovered():
    storage = make_storage()
    a = record(storage, "20260214-080000", 100)
    storage.mark_synced(a, SHA_A)
    # Cut between removing synced.log and renaming synced.tmp onto it.
    os.rename(ROOT + "/" + JOURNAL_NAME, ROOT + "/" + JOURNAL_TMP_NAME)
    assert make_storage().is_synced(a)
    assert JOURNAL_TMP_NAME not in os.listdir(ROOT)
    # Cut while synced.tmp was being written: the old journal holds.
    with open(ROOT + "/" + JOURNAL_TMP_NAME, "w") as f:
        f.write("synced half")
    assert make_storage().is_synced(a)
    assert JOURNAL_TMP_NAME not in os.listdir(ROOT)


def test_free_bytes_from_statvfs():
    storage = make_storage(capacity_bytes=1024 * 512)
    record(storage, "20260214-080000", 512 * 10)
    assert storage.free_bytes() == 512 * (1024 - 10)


class FatOs:
    """The real os as a FAT card shows it to MicroPython: ilistdir entries carry the size
    (name, type, inode, size); counts directory passes and stats (each stat of a file on
    FAT scans the directory again)."""

    def __init__(self):
        self.listings = 0
        self.stats = []

    def __getattr__(self, name):
        return getattr(os, name)

    def ilistdir(self, path):
        self.listings += 1
        for name in os.listdir(path):
            st = os.stat(path + "/" + name)
            kind = 0x4000 if st[0] & 0x4000 else 0x8000
            yield (name, kind, 0, st[6])

    def stat(self, path):
        self.stats.append(path)
        return os.stat(path)


def test_pending_is_one_directory_pass_and_is_kept_until_something_changes():
    fat = FatOs()
    storage = make_storage(os_module=fat)
    paths = [record(storage, f"20260214-09{i:02d}00", 100 + i) for i in range(40)]
    os.mkdir(ROOT + "/subdir.csv")  # a directory is never a session
    fat.listings = 0
    fat.stats = []
    assert storage.pending() == [(p, 100 + i) for i, p in enumerate(paths)]
    assert fat.listings == 1 and fat.stats == []  # no stat per file
    for _ in range(5):  # every BLE connect reads info again: nothing to list
        assert storage.pending_summary() == (40, sum(100 + i for i in range(40)))
    assert fat.listings == 1
    storage.mark_synced(paths[0], SHA_A)  # a change through the storage: listed again
    assert storage.pending()[0] == (paths[1], 101)
    assert fat.listings == 2
    new = record(storage, "20260214-120000", 7)
    assert storage.pending()[-1] == (new, 7)
    assert fat.listings == 3
