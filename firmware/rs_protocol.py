"""BLE protocol constants. GENERATED from firmware/protocol.json by
firmware/tools/gen_protocol.py: do not edit; change the JSON and re-run the tool.
The meaning of every value is in docs/ble-protocol.md.
"""

try:
    from micropython import const
except ImportError:  # CPython (tests, tools): const() is the identity

    def const(value):
        return value


# version and GATT layout
PROTOCOL_VERSION = const(2)
SERVICE_UUID = "7a3e0101-52c1-4d0b-9a6e-5f2b8c1d0e11"
INFO_UUID = "7a3e0102-52c1-4d0b-9a6e-5f2b8c1d0e11"
CONTROL_UUID = "7a3e0103-52c1-4d0b-9a6e-5f2b8c1d0e11"
STATUS_UUID = "7a3e0104-52c1-4d0b-9a6e-5f2b8c1d0e11"
DEVICE_NAME_PREFIX = "RS-Core-"

# framing: [msg_id u8][seq u8][flags u8] + payload
FRAME_HEADER_BYTES = const(3)
DEFAULT_WRITE_BYTES = const(20)
MAX_FRAME_BYTES = const(512)
MAX_MESSAGE_BYTES = const(2048)
FLAG_LAST = const(1)
RECENT_MSG_IDS = const(8)

# message types (first byte of a reassembled message)
MSG_SYNC_REQUEST = const(1)
MSG_CANCEL = const(2)
MSG_STATUS_REQUEST = const(3)
MSG_PAKE_A = const(4)
MSG_CONFIRM = const(5)
MSG_SEALED = const(6)
MSG_ACK = const(16)
MSG_ERROR = const(17)
MSG_STATE = const(18)
MSG_PROGRESS = const(19)
MSG_DONE = const(20)
MSG_PAKE_B = const(21)

# sync states (the `state` field of state messages)
STATE_IDLE = "idle"
STATE_REQUEST_RECEIVED = "request_received"
STATE_SCANNING = "scanning"
STATE_JOINING = "joining"
STATE_JOINED = "joined"
STATE_UPLOADING = "uploading"
STATE_DONE = "done"
STATE_CANCELLED = "cancelled"
STATE_FAILED = "failed"
RUNNING_STATES = ("request_received", "scanning", "joining", "joined", "uploading")

# results: `ok` or an error code
ACK_OK = "ok"
E_FRAME = "E_FRAME"
E_MESSAGE = "E_MESSAGE"
E_AUTH = "E_AUTH"
E_REPLAY = "E_REPLAY"
E_SESSION = "E_SESSION"
E_RATE_LIMIT = "E_RATE_LIMIT"
E_BUSY = "E_BUSY"
E_RECORDING = "E_RECORDING"
E_URL = "E_URL"
E_AP_NOT_FOUND = "E_AP_NOT_FOUND"
E_WRONG_PASSWORD = "E_WRONG_PASSWORD"
E_WIFI_SECURITY = "E_WIFI_SECURITY"
E_NO_IP = "E_NO_IP"
E_JOIN_TIMEOUT = "E_JOIN_TIMEOUT"
E_HTTP = "E_HTTP"
E_SERVER_HASH = "E_SERVER_HASH"
E_SERVER_PROOF = "E_SERVER_PROOF"
E_NETWORK = "E_NETWORK"
E_TLS_PIN = "E_TLS_PIN"
E_STORAGE = "E_STORAGE"
E_CANCELLED = "E_CANCELLED"
E_INTERNAL = "E_INTERNAL"

# sealed messages: the inner types each side may seal
SEALED_FROM_PHONE = (MSG_SYNC_REQUEST, MSG_CANCEL, MSG_STATUS_REQUEST)
SEALED_FROM_DEVICE = (MSG_ACK, MSG_ERROR, MSG_STATE, MSG_PROGRESS, MSG_DONE)

# crypto: CPace, key schedule, sealing (docs/ble-protocol.md, Crypto)
QR_PREFIX = "RSCORE:"
CI_LABEL = b"racesense-ble-v2"
HKDF_INFO = b"racesense-ble-v2 keys"
LABEL_P2D = b"p2d"
LABEL_D2P = b"d2p"
PAIRING_CODE_DIGITS = const(8)
SID_BYTES = const(16)
POINT_BYTES = const(32)
ISK_BYTES = const(64)
CONFIRM_BYTES = const(32)
KEY_SCHEDULE_BYTES = const(160)
AES_KEY_BYTES = const(16)
MAC_KEY_BYTES = const(32)
TAG_BYTES = const(16)
COUNTER_BYTES = const(4)
ACK_KEY_BYTES = const(32)

# handshake: unauthenticated connections and failed attempts
AUTH_TIMEOUT_MS = const(60000)
FREE_FAILURES = const(3)
DELAY_BASE_MS = const(1000)
DELAY_MAX_MS = const(30000)

# timing
SYNC_JOIN_DEADLINE_MS = const(15000)
PROGRESS_INTERVAL_MS = const(500)
