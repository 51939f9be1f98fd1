"""Stand-in for MicroPython's `cryptolib` under CPython tests, built on `cryptography`.

Only what the firmware uses: aes(key, mode, iv) with mode 1 (ECB) or 2 (CBC), and
encrypt/decrypt(in_buf, out_buf=None) on whole 16-byte blocks, chaining across calls.
Like the real one, an object either encrypts or decrypts, never both.

Under MicroPython this file shadows the built-in module (files on the path take precedence
there), so it hands over to the built-in with an empty path, as MicroPython's docs suggest
for extending built-in modules.
"""

import sys

if sys.implementation.name == "micropython":
    _saved_path = sys.path
    sys.path = []
    try:
        from cryptolib import *  # noqa: F403  (the built-in)
    finally:
        sys.path = _saved_path
        del _saved_path
else:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    MODE_ECB = 1
    MODE_CBC = 2

    class aes:  # MicroPython's name
        def __init__(self, key, mode, iv=None):
            if len(key) not in (16, 32):
                raise ValueError("key")
            if mode == MODE_ECB:
                cipher_mode = modes.ECB()
            elif mode == MODE_CBC:
                cipher_mode = modes.CBC(bytes(iv) if iv is not None else bytes(16))
            else:
                raise ValueError("mode")
            self._cipher = Cipher(algorithms.AES(bytes(key)), cipher_mode)
            self._ctx = None
            self._encrypting = None

        def _run(self, encrypting, in_buf, out_buf):
            if self._encrypting is None:
                self._encrypting = encrypting
                self._ctx = self._cipher.encryptor() if encrypting else self._cipher.decryptor()
            elif self._encrypting != encrypting:
                raise ValueError("can't encrypt & decrypt")
            if len(in_buf) % 16:
                raise ValueError("blksize % 16")
            result = self._ctx.update(bytes(in_buf))
            if out_buf is None:
                return result
            out_buf[: len(result)] = result
            return None

        def encrypt(self, in_buf, out_buf=None):
            return self._run(True, in_buf, out_buf)

        def decrypt(self, in_buf, out_buf=None):
            return self._run(False, in_buf, out_buf)
