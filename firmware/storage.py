"""Session files on the SD card: which are pending, which the laptop holds, and room.

    storage = Storage("/sd/sessions", os_module=os, statvfs=os.statvfs)
    path, f = storage.open_session("20260214-093000")   # the logger writes f
    storage.close_session(path)                         # now pending
    storage.pending()            -> [(path, size_bytes), ...] oldest first
    storage.mark_synced(path, sha256_hex)               # after the server echoed the hash
    storage.make_room()          -> free bytes, after deleting SYNCED files if needed

Sessions are `<root>/<UTC start>.csv`; the name sorts by start time, so oldest first is
name order. The file being recorded is never pending (it is still growing; its hash
would be stale before the upload ended).

How a sync is recorded: one line `synced <name> <size_bytes> <sha256>` appended to
`<root>/synced.log`, then flush and a filesystem sync. Chosen over renaming the session
file to a marker name because:
- the data file is never touched by the bookkeeping: a FAT rename rewrites directory
  entries (long names are chains of them), and a power cut in the middle can lose the
  very file it was meant to protect;
- an append of ~100 bytes is the smallest write there is; a power cut tears at most the
  last line, which then fails to parse and is ignored, so the file counts as pending and
  is uploaded again (the laptop recognises it by hash). Every failure mode is "upload
  again", never "delete something unsynced";
- the size on the line guards against a file that changed after its sync, and against a
  new file that reuses a deleted one's name: a line counts only while the file on the
  card still has that size.
The journal is rewritten without the lines of deleted files after a clean-up (and at start
when it has such lines), through `synced.tmp` and a rename, so it stays small and no old
line can ever match a new file.

Only SYNCED files are ever deleted, oldest first, and only while free space is below
`min_free_bytes`. If that is not enough, nothing else goes: the logger stops recording
rather than lose an unsynced session.

Listing is one pass over the directory (`os.ilistdir`, whose entries carry the size on
FAT), never a stat per file: on FAT each stat scans the directory again, so a card with
hundreds of sessions would take O(n^2) at every BLE connect. The pending list is then
kept until something changes it through this object (a session opened or closed, a file
marked synced, a clean-up), so reading `info` again costs nothing.
"""

SESSION_SUFFIX = ".csv"
JOURNAL_NAME = "synced.log"
JOURNAL_TMP_NAME = "synced.tmp"
MIN_FREE_BYTES = 32 * 1024 * 1024  # about two hours of recording (RS-Core: ~16 MB/h)
_HEX = "0123456789abcdef"
_DIR_TYPE = 0x4000  # ilistdir's type of a directory (S_IFDIR)


def _is_sha256_hex(text):
    if len(text) != 64:
        return False
    return all(c in _HEX for c in text)


class Storage:
    def __init__(self, root, os_module=None, statvfs=None, min_free_bytes=MIN_FREE_BYTES):
        if os_module is None:
            import os as os_module
        self._os = os_module
        self._statvfs = statvfs or getattr(os_module, "statvfs", None)
        self.root = root.rstrip("/") or "/"
        self.min_free_bytes = min_free_bytes
        self._active = None  # path of the session being recorded
        self._synced = {}  # name -> (size_bytes, sha256)
        self._pending = None  # [(path, size_bytes)] until something changes it
        self._makedirs(self.root)
        self._load_journal()

    # -- what the logger uses -----------------------------------------------------------

    def open_session(self, stem):
        """Create a new session file `<stem>.csv` (or `<stem>_N.csv` if that name exists or
        has a journal line) and open it for writing. Returns (path, file)."""
        name = stem + SESSION_SUFFIX
        n = 0
        while self._exists(name) or name in self._synced:
            n += 1
            name = stem + "_" + str(n) + SESSION_SUFFIX
        path = self._path(name)
        f = open(path, "wb")  # noqa: SIM115 (the logger owns it until close_session)
        self._active = path
        self._pending = None
        return path, f

    def close_session(self, path):
        """The session at `path` is complete: from now on it is pending."""
        if self._active == path:
            self._active = None
        self._pending = None

    def sync_filesystem(self):
        """Make what was written durable: os.sync on the board where there is one."""
        sync = getattr(self._os, "sync", None)
        if sync is not None:
            sync()

    # -- what the sync state machine and BLE device info use ----------------------------

    def pending(self):
        """[(path, size_bytes), ...] of the finished sessions the laptop does not hold,
        oldest first (a fresh list; the listing behind it is kept until it changes)."""
        if self._pending is None:
            out = []
            for name, size in self._sessions():
                path = self._path(name)
                if path != self._active and not self._is_synced(name, size):
                    out.append((path, size))
            self._pending = out
        return list(self._pending)

    def pending_summary(self):
        """(count, bytes) of the pending sessions."""
        count = 0
        total = 0
        for _path, size in self.pending():
            count += 1
            total += size
        return count, total

    def mark_synced(self, path, sha256_hex):
        """Record durably that the laptop holds `path` with this SHA-256 (lower-case hex).
        Raises OSError when the file is missing or the journal cannot be written."""
        name = self._name(path)
        sha = sha256_hex.lower()
        if not _is_sha256_hex(sha):
            raise ValueError("not a SHA-256 hex digest: " + repr(sha256_hex))
        size = self._size(name)
        if size < 0:
            raise OSError(2, "no such session: " + path)
        line = "synced " + name + " " + str(size) + " " + sha + "\n"
        with open(self._path(JOURNAL_NAME), "a") as f:
            f.write(line)
            self._flush(f)
        self.sync_filesystem()
        self._synced[name] = (size, sha)
        self._pending = None

    def is_synced(self, path):
        name = self._name(path)
        return self._is_synced(name, self._size(name))

    def free_bytes(self):
        st = self._statvfs(self.root)
        return st[1] * st[4]  # fragment size * blocks available to us

    def make_room(self):
        """Delete SYNCED sessions, oldest first, while free space is below min_free_bytes.
        Never an unsynced one, never the active one. Returns the free bytes after."""
        free = self.free_bytes()
        if free >= self.min_free_bytes:
            return free
        deleted = False
        listing = self._sessions()
        for name, size in listing:
            if free >= self.min_free_bytes:
                break
            path = self._path(name)
            if path == self._active or not self._is_synced(name, size):
                continue
            self._os.remove(path)
            deleted = True
            self._pending = None
            free = self.free_bytes()
        if deleted:
            self._rewrite_journal()
        return free

    # -- internals ----------------------------------------------------------------------

    def _path(self, name):
        return self.root + "/" + name if self.root != "/" else "/" + name

    def _name(self, path):
        return path[path.rfind("/") + 1 :]

    def _makedirs(self, path):
        here = ""
        for part in path.split("/"):
            if not part:
                continue
            here = here + "/" + part if (here or path.startswith("/")) else part
            try:
                self._os.mkdir(here)
            except OSError:
                pass  # exists (or cannot be made: the first open will say so)

    def _size(self, name):
        """Size of `name` in bytes, -1 if it does not exist."""
        try:
            return self._os.stat(self._path(name))[6]
        except OSError:
            return -1

    def _exists(self, name):
        return self._size(name) >= 0

    def _sessions(self):
        """[(name, size_bytes)] of the session files, oldest (by name) first: one pass
        over the directory."""
        out = []
        ilistdir = getattr(self._os, "ilistdir", None)
        if ilistdir is None:  # CPython
            for name in self._os.listdir(self.root):
                if name.endswith(SESSION_SUFFIX):
                    size = self._size(name)
                    if size >= 0:
                        out.append((name, size))
        else:
            for entry in ilistdir(self.root):
                name = entry[0]
                if not name.endswith(SESSION_SUFFIX) or entry[1] & _DIR_TYPE:
                    continue
                # FAT (the card) gives the size here; the unix port's VFS does not.
                size = entry[3] if len(entry) > 3 else self._size(name)
                if size >= 0:
                    out.append((name, size))
        out.sort()
        return out

    def _is_synced(self, name, size):
        entry = self._synced.get(name)
        return entry is not None and entry[0] == size

    def _flush(self, f):
        f.flush()
        fsync = getattr(self._os, "fsync", None)  # CPython; MicroPython: flush is the sync
        if fsync is not None and hasattr(f, "fileno"):
            fsync(f.fileno())

    def _load_journal(self):
        journal = self._path(JOURNAL_NAME)
        tmp = self._path(JOURNAL_TMP_NAME)
        if not self._exists(JOURNAL_NAME) and self._exists(JOURNAL_TMP_NAME):
            self._os.rename(tmp, journal)  # a rewrite cut between its remove and rename
        elif self._exists(JOURNAL_TMP_NAME):
            self._os.remove(tmp)  # a rewrite cut before its rename: the old journal holds
        if not self._exists(JOURNAL_NAME):
            return
        stale = False
        with open(journal) as f:
            for line in f:
                parts = line.split()
                # A torn last line (power cut mid-append) has no newline or too few parts.
                if len(parts) != 4 or parts[0] != "synced" or not line.endswith("\n"):
                    continue
                try:
                    size = int(parts[2])
                except ValueError:
                    continue
                if not _is_sha256_hex(parts[3]):
                    continue
                self._synced[parts[1]] = (size, parts[3])
        on_card = self._names_on_card()
        for name in list(self._synced):
            if name not in on_card:
                del self._synced[name]
                stale = True
        if stale:
            self._rewrite_journal()

    def _names_on_card(self):
        names = {}
        for name, _size in self._sessions():
            names[name] = True
        return names

    def _rewrite_journal(self):
        """The journal without the lines of files no longer on the card."""
        on_card = self._names_on_card()
        for name in list(self._synced):
            if name not in on_card:
                del self._synced[name]
        journal = self._path(JOURNAL_NAME)
        tmp = self._path(JOURNAL_TMP_NAME)
        with open(tmp, "w") as f:
            for name, (size, sha) in self._synced.items():
                f.write("synced " + name + " " + str(size) + " " + sha + "\n")
            self._flush(f)
        # FAT cannot rename onto an existing file: remove first. A cut in between leaves
        # only synced.tmp, which _load_journal takes as the journal.
        if self._exists(JOURNAL_NAME):
            self._os.remove(journal)
        self._os.rename(tmp, journal)
        self.sync_filesystem()
