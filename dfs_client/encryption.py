"""Client-side encryption: keys, the file header, and the sealing of 64 KiB chunks (AES-256-GCM).

Keys never leave this process: the name node and the data nodes only ever see ciphertext. A key
is 32 random bytes from a key file, or derived from a passphrase by scrypt with a salt kept in the
header (so any client with the passphrase can derive it again).

An encrypted file is a 64-byte header followed by chunks of 64 KiB of plaintext, each stored as
``nonce (12) | ciphertext | tag (16)``::

    header: magic "DFSCRYPT" | version 1 | cipher 1 (AES-256-GCM) | log2 chunk 16 | kdf (0 key
            file, 1 scrypt) | scrypt log2 N, r, p | 0 | salt (16) | key id (8) | file id (16) | 0 (8)

Every file has a random file id; its chunks are sealed under a key of its own, HKDF(master key,
file id), each with a fresh random nonce (so rewriting a chunk never reuses one), and with the
whole header, the chunk's index and whether it is the last chunk as associated data. So a chunk
moved to another place or file, a file cut at a chunk boundary or grown by an old chunk, and any
changed byte (header included) fail authentication: a reader gets an error, never wrong plaintext.
The key id (a one-way digest of the master key) tells "another key" apart from "damaged". Even an
empty file has one (empty) last chunk, so it cannot be cut either; only a file of zero bytes (what
``touch`` or a create makes before anything is written) is empty in both forms.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dfs_common.errors import DecryptionFailed, IllegalArgument, WrongKey

MAGIC = b"DFSCRYPT"
VERSION = 1
CIPHER_AES_256_GCM = 1
KDF_KEY_FILE, KDF_SCRYPT = 0, 1
HEADER_SIZE = 64
CHUNK_LOG2 = 16
CHUNK = 1 << CHUNK_LOG2  # 64 KiB of plaintext per chunk: a small random read decrypts little
NONCE_SIZE, TAG_SIZE = 12, 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
SEALED_CHUNK = CHUNK + OVERHEAD
KEY_SIZE = 32
# scrypt's cost: 2^15 x 8 x 1 is 32 MiB and about 0.1 s, once per salt in a process. A header
# asking for more than 2^20 (1 GiB) is refused rather than obeyed.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
MAX_SCRYPT_LOG2_N = 20
_HEADER = struct.Struct(">8sBBBBBBBB16s8s16s8s")
_KEY_ID_LABEL = b"dfs key id v1"
_FILE_KEY_INFO = b"dfs file key v1"


class ContentKey:
    """The secret a client encrypts with: a key file's 32 bytes, or a passphrase (scrypt).

    ``master_for(header)`` answers the 32-byte master key a header was sealed under (deriving it
    from the passphrase with the header's salt, once per salt); ``header_fields()`` what a new
    file's header records (a passphrase key draws one random salt per ``ContentKey``).
    """

    def __init__(self, *, key: bytes | None = None, passphrase: bytes | None = None,
                 scrypt_log2_n: int = SCRYPT_LOG2_N) -> None:
        if (key is None) == (passphrase is None):
            raise IllegalArgument("A content key is either a 32-byte key or a passphrase")
        if key is not None and len(key) != KEY_SIZE:
            raise IllegalArgument(f"A content key is {KEY_SIZE} bytes, not {len(key)}")
        if passphrase is not None and not passphrase:
            raise IllegalArgument("An empty passphrase is no key")
        self._key, self._passphrase = key, passphrase
        self._log2_n = scrypt_log2_n
        self._salt = secrets.token_bytes(16) if passphrase is not None else bytes(16)
        self._derived: dict[tuple[bytes, int, int, int], bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ContentKey:
        """A key file: 32 raw bytes, or them as 64 hexadecimal digits (``new_key_file`` writes one)."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise IllegalArgument(f"Cannot read the key file {path}: {error.strerror}") from None
        if len(data) != KEY_SIZE:
            try:
                data = bytes.fromhex(data.decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                data = b""
        if len(data) != KEY_SIZE:
            raise IllegalArgument(f"The key file {path} holds neither {KEY_SIZE} bytes nor "
                                  f"{2 * KEY_SIZE} hexadecimal digits")
        return cls(key=data)

    @classmethod
    def from_passphrase(cls, passphrase: str | bytes, scrypt_log2_n: int = SCRYPT_LOG2_N) -> ContentKey:
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        return cls(passphrase=passphrase, scrypt_log2_n=scrypt_log2_n)

    def __repr__(self) -> str:  # never the secret
        return f"ContentKey({'key file' if self._key is not None else 'passphrase'})"

    def header_fields(self) -> tuple[int, int, int, int, bytes]:
        """``(kdf, log2 N, r, p, salt)`` for the header of a file sealed now."""
        if self._key is not None:
            return KDF_KEY_FILE, 0, 0, 0, bytes(16)
        return KDF_SCRYPT, self._log2_n, SCRYPT_R, SCRYPT_P, self._salt

    def master_for(self, header: Header) -> bytes:
        if header.kdf == KDF_KEY_FILE:
            if self._key is None:
                raise WrongKey("Sealed with a key file, and this client has a passphrase")
            return self._key
        if self._passphrase is None:
            raise WrongKey("Sealed with a passphrase, and this client has a key file")
        params = (header.salt, header.log2_n, header.r, header.p)
        with self._lock:
            master = self._derived.get(params)
            if master is None:
                master = Scrypt(salt=header.salt, length=KEY_SIZE, n=1 << header.log2_n, r=header.r,
                                p=header.p).derive(self._passphrase)
                self._derived[params] = master
            return master


def new_key_file(path: str | os.PathLike[str]) -> None:
    """Write a fresh random key (hexadecimal) readable by its owner only; never overwrites."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(KEY_SIZE) + "\n")


def key_id(master: bytes) -> bytes:
    return hmac.new(master, _KEY_ID_LABEL, hashlib.sha256).digest()[:8]


@dataclass(frozen=True)
class Header:
    kdf: int
    log2_n: int
    r: int
    p: int
    salt: bytes
    key_id: bytes
    file_id: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, CIPHER_AES_256_GCM, CHUNK_LOG2, self.kdf, self.log2_n,
                            self.r, self.p, 0, self.salt, self.key_id, self.file_id, bytes(8))

    @classmethod
    def unpack(cls, data: bytes, path: str) -> Header:
        """The header of ``path``; a clear error for anything but a version-1 DFS header."""
        if len(data) < HEADER_SIZE or data[:len(MAGIC)] != MAGIC:
            raise DecryptionFailed(f"{path} is not encrypted (or its header is damaged)")
        (_, version, cipher, chunk_log2, kdf, log2_n, r, p, zero, salt, kid, file_id,
         zeros) = _HEADER.unpack(data[:HEADER_SIZE])
        if version != VERSION:
            raise DecryptionFailed(f"{path} is encrypted in format version {version}; this client reads {VERSION}")
        if cipher != CIPHER_AES_256_GCM or chunk_log2 != CHUNK_LOG2 or kdf not in (KDF_KEY_FILE, KDF_SCRYPT) \
                or zero or any(zeros):
            raise DecryptionFailed(f"The encryption header of {path} is damaged")
        if kdf == KDF_SCRYPT and not (10 <= log2_n <= MAX_SCRYPT_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise DecryptionFailed(f"The encryption header of {path} is damaged (scrypt parameters)")
        return cls(kdf, log2_n, r, p, salt, kid, file_id)


class Sealer:
    """Seals and opens the chunks of one file (its header fixed): thread-safe, no I/O."""

    def __init__(self, key: ContentKey, header: Header, path: str) -> None:
        master = key.master_for(header)
        if not hmac.compare_digest(key_id(master), header.key_id):
            raise WrongKey(f"{path} was encrypted with another key")
        file_key = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=header.file_id,
                        info=_FILE_KEY_INFO).derive(master)
        self.header, self.path = header, path
        self.header_bytes = header.pack()
        self._aead = AESGCM(file_key)

    @classmethod
    def new(cls, key: ContentKey, path: str) -> Sealer:
        """A sealer for a new file: a fresh random file id (so a fresh per-file key)."""
        kdf, log2_n, r, p, salt = key.header_fields()
        draft = Header(kdf, log2_n, r, p, salt, bytes(8), secrets.token_bytes(16))
        master = key.master_for(draft)
        return cls(key, Header(kdf, log2_n, r, p, salt, key_id(master), draft.file_id), path)

    def _aad(self, index: int, final: bool) -> bytes:
        return self.header_bytes + struct.pack(">QB", index, 1 if final else 0)

    def seal(self, index: int, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, bytes(plaintext), self._aad(index, final))

    def open(self, index: int, sealed: bytes | memoryview, final: bool) -> bytes:
        if len(sealed) < OVERHEAD:
            raise DecryptionFailed(f"Chunk {index} of {self.path} is cut short")
        try:
            return self._aead.decrypt(bytes(sealed[:NONCE_SIZE]), bytes(sealed[NONCE_SIZE:]),
                                      self._aad(index, final))
        except InvalidTag:
            raise DecryptionFailed(f"Chunk {index} of {self.path} fails authentication: altered, "
                                   "moved or cut") from None


def plain_length(sealed_length: int) -> int:
    """The plaintext length of an encrypted file ``sealed_length`` bytes long (0 for 0 bytes).
    A length no encrypted file can have raises ``DecryptionFailed``."""
    if sealed_length == 0:
        return 0
    body = sealed_length - HEADER_SIZE
    if body < OVERHEAD:
        raise DecryptionFailed(f"{sealed_length} bytes is too short for an encrypted file")
    chunks = -(-body // SEALED_CHUNK)
    last = body - (chunks - 1) * SEALED_CHUNK
    if last < OVERHEAD:
        raise DecryptionFailed(f"{sealed_length} bytes cannot be an encrypted file (a chunk cut short)")
    return (chunks - 1) * CHUNK + last - OVERHEAD


def sealed_length(plain: int) -> int:
    """The stored length of ``plain`` bytes of plaintext (every file has at least one chunk)."""
    chunks = max(1, -(-plain // CHUNK))
    return HEADER_SIZE + plain + chunks * OVERHEAD


def chunk_count(plain: int) -> int:
    return max(1, -(-plain // CHUNK))


def chunk_offset(index: int) -> int:
    """Where chunk ``index`` starts in the stored file."""
    return HEADER_SIZE + index * SEALED_CHUNK


def main(argv: list[str] | None = None) -> int:
    """``python -m dfs_client.encryption new-key FILE``: write a fresh key file (mode 0600)."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "new-key":
        print("usage: python -m dfs_client.encryption new-key FILE", file=sys.stderr)
        return 2
    try:
        new_key_file(args[1])
    except OSError as error:
        print(f"dfs: cannot create {args[1]}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


__all__ = ["CHUNK", "ContentKey", "HEADER_SIZE", "Header", "SEALED_CHUNK", "Sealer", "chunk_count",
           "chunk_offset", "key_id", "new_key_file", "plain_length", "sealed_length"]


if __name__ == "__main__":
    raise SystemExit(main())
