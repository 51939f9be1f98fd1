"""X25519 (RFC 7748) and the Elligator 2 map to Curve25519 (RFC 9380, section 6.7.1), in
Python integers: MicroPython has no elliptic-curve module, and CPace (rs_pake.py) needs
both. Same code under CPython (tests) and MicroPython (the board).

The field is GF(p), p = 2^255 - 19; the curve v^2 = u^3 + A u^2 + u with A = 486662.
Points are u-coordinates only (Montgomery ladder). Scalars are 32 little-endian bytes,
clamped as decodeScalar25519 says; u-coordinates are 32 little-endian bytes with bit 255
ignored and values >= p taken mod p (RFC 7748 section 5).

Work is split into steps (Ladder.run(bits)) so that the BLE service can spread one scalar
multiplication over several polls of its loop instead of holding the loop for the whole
of it (about a second on an ESP32, where the same loop reads the GNSS UART).

Not constant time: Python integers are not. What a timing observer could learn is bounded
by the protocol: scalars are ephemeral (one per handshake), and the one input derived from
the pairing code (the generator) is selected arithmetically, not by a branch.
"""

P = (1 << 255) - 19
A = 486662
_A24 = 121665  # (A - 2) / 4
_Z = 2  # Elligator 2's non-square for Curve25519 (RFC 9380)
_MASK255 = (1 << 255) - 1
_LEGENDRE_EXP = (P - 1) // 2
_INV_EXP = P - 2
FIELD_BYTES = 32
BITS = 255  # the ladder's iterations: bit 254 down to bit 0


def decode_scalar(k):
    """decodeScalar25519: clear the low 3 bits and bit 255, set bit 254."""
    if len(k) != FIELD_BYTES:
        raise ValueError("X25519 scalar must be 32 bytes")
    n = int.from_bytes(bytes(k), "little")
    n &= ~7
    n &= _MASK255
    return n | (1 << 254)


def decode_u(u):
    """decodeUCoordinate for 255 bits: the top bit ignored, then taken mod p."""
    if len(u) != FIELD_BYTES:
        raise ValueError("X25519 u-coordinate must be 32 bytes")
    return (int.from_bytes(bytes(u), "little") & _MASK255) % P


def encode_u(n):
    return (n % P).to_bytes(FIELD_BYTES, "little")


def inverse(z):
    """z^-1 mod p (0 for 0, as RFC 7748's z^(p-2) gives)."""
    return pow(z, _INV_EXP, P)


class Ladder:
    """One X25519 scalar multiplication, RFC 7748's Montgomery ladder, run in slices.

    The input point may be projective (x : z), so that a generator fresh from Elligator 2
    needs no inversion: the differential addition then takes x3 = z*(DA+CB)^2 and
    z3 = x*(DA-CB)^2 instead of x3 = (DA+CB)^2, z3 = x1*(DA-CB)^2."""

    def __init__(self, k_int, x1, z1=1):
        self._k = k_int
        self._x1 = x1 % P
        self._z1 = z1 % P
        self._x2 = 1
        self._z2 = 0
        self._x3 = self._x1
        self._z3 = self._z1
        self._swap = 0
        self._t = BITS - 1
        self._out = None

    @property
    def done(self):
        return self._out is not None

    def run(self, bits=BITS):
        """Process up to `bits` more bits of the scalar; True once the result is ready."""
        if self._out is not None:
            return True
        k = self._k
        x1 = self._x1
        z1 = self._z1
        x2 = self._x2
        z2 = self._z2
        x3 = self._x3
        z3 = self._z3
        swap = self._swap
        t = self._t
        stop = max(t - bits, -1)
        p = P
        while t > stop:
            kt = (k >> t) & 1
            if swap ^ kt:
                x2, x3 = x3, x2
                z2, z3 = z3, z2
            swap = kt
            a = x2 + z2
            aa = a * a % p
            b = x2 - z2
            bb = b * b % p
            e = aa - bb
            da = (x3 - z3) * a % p
            cb = (x3 + z3) * b % p
            s = da + cb
            d = da - cb
            x3 = s * s % p
            z3 = d * d % p
            if z1 != 1:
                x3 = x3 * z1 % p
            z3 = z3 * x1 % p
            x2 = aa * bb % p
            z2 = e * (aa + _A24 * e) % p
            t -= 1
        self._t = t
        if t < 0:
            if swap:
                x2, x3 = x3, x2
                z2, z3 = z3, z2
            self._x2 = self._z2 = self._x3 = self._z3 = None
            self._out = x2 * inverse(z2) % p
            return True
        self._x2 = x2
        self._z2 = z2
        self._x3 = x3
        self._z3 = z3
        self._swap = swap
        return False

    def result(self):
        """The u-coordinate of the product as 32 bytes (all zero for a low-order input)."""
        if self._out is None:
            self.run()
        return encode_u(self._out)


def x25519(k, u):
    """X25519(k, u) of RFC 7748: 32-byte scalar and u-coordinate in, 32 bytes out."""
    ladder = Ladder(decode_scalar(k), decode_u(u))
    ladder.run()
    return ladder.result()


def elligator2(r):
    """map_to_curve_elligator2 (RFC 9380 6.7.1) for Curve25519 with Z = 2, as a
    projective u-coordinate (x, z): u = x / z. r is a field element (int).

    x1 = -A / (1 + Z r^2); if x1^3 + A x1^2 + x1 is a square, u = x1, else u = -x1 - A.
    1 + 2 r^2 is never 0 (-1/2 is not a square mod p), so no special case. With
    x1 = n / d the square test is on (n^3 + A n^2 d + n d^2) * d, which has the same
    Legendre symbol as the affine value over d^4: one exponentiation, no inversion."""
    p = P
    d = (1 + _Z * r * r) % p
    n = (-A) % p
    g = (n * n % p * n + A * n % p * n % p * d + n * d % p * d) % p
    chi = pow(g * d % p, _LEGENDRE_EXP, p)  # 1: a square (0 cannot occur), p-1: not
    is_square = 1 if chi == 1 else 0
    # u = x1 or u = -x1 - A = (-n - A d) / d, selected by arithmetic, not by a branch
    x = (is_square * n + (1 - is_square) * (-n - A * d)) % p
    return x, d


def map_to_curve(field_bytes):
    """CPace's step from the hashed generator string to a u-coordinate: decodeUCoordinate
    (RFC 7748, 255 bits) then Elligator 2. Returns the projective (x, z)."""
    return elligator2(decode_u(field_bytes))


def encode_projective(x, z):
    return encode_u(x * inverse(z) % P)
