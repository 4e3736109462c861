"""Optional payload encryption: server names and hosts never stored in plaintext.

With a key configured, every payload the project's clients and workers send
to Temporal (workflow and activity inputs and results, queries, signals,
heartbeat details, memos) is encrypted with AES-256-GCM before it leaves the
process, and failure messages and stack traces are moved into an encrypted
attribute (``DefaultFailureConverterWithEncodedAttributes``). The Temporal
server, its database and the Web UI see ciphertext; the Web UI shows
plaintext only through the codec server (``python -m watcher_temporal.codec_server``).

Keys (:class:`CodecSettings`, set exactly one):

* ``WATCHER_TEMPORAL_CODEC_KEY``: one key (32 bytes, base64 or 64 hex digits);
* ``WATCHER_TEMPORAL_CODEC_KEYS``: a key ring, comma-separated, newest first;
* ``WATCHER_TEMPORAL_CODEC_KEY_FILE``: a file with one key per line, newest
  first (``#`` comments and blank lines ignored).

The newest key encrypts; any key of the ring decrypts, found by the key id
(a hash of the key, never the key) in each payload's metadata, so keys rotate
without a flag day (docs/security.md). Generate one with
``python -m watcher_temporal.codec --generate-key``. Every process that
touches a namespace (workers, starters, CLI, codec server) needs the ring.

``WATCHER_TEMPORAL_REQUIRE_ENCRYPTION=1``: this process refuses plaintext
payloads (a workflow started by a client without the key fails at once,
non-retryably, with a :data:`PLAINTEXT_REFUSED` error). A payload encrypted
with a key this process lacks fails the task (another worker, or this one
once configured, can still run it) and is logged once, at ERROR, with the fix.

Search attributes are NOT encrypted (the server must index them): server ids
and host names in them stay visible to whoever can list workflows.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

KEY_ENV = "WATCHER_TEMPORAL_CODEC_KEY"
KEYS_ENV = "WATCHER_TEMPORAL_CODEC_KEYS"
KEY_FILE_ENV = "WATCHER_TEMPORAL_CODEC_KEY_FILE"
REQUIRE_ENCRYPTION_ENV = "WATCHER_TEMPORAL_REQUIRE_ENCRYPTION"

#: ``encoding`` metadata of an encrypted payload.
ENCODING = b"binary/encrypted"
#: Metadata naming the key (a hash of it, not the key), so a wrong key is named.
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
#: Encoding the codec gives a plaintext payload it refuses; its converter fails the workflow.
REFUSED_ENCODING = b"binary/plaintext-refused"
#: ``ApplicationError.type`` of the failure of a plaintext payload refused.
PLAINTEXT_REFUSED = "PlaintextPayloadRefused"
#: At most this many keys in a ring (rotation needs two or three).
MAX_KEYS = 16

logger = logging.getLogger("watcher_temporal.codec")


class CodecKeyError(ValueError):
    """The configured key is malformed, or a payload was encrypted with another key."""


def parse_key(text: str) -> bytes:
    """Decode a 256-bit key given as 64 hex digits or base64 (standard or URL-safe).

    Raises:
        CodecKeyError: not 32 bytes in either form; the message never
            repeats the key.
    """
    text = text.strip()
    candidates: list[bytes] = []
    try:
        candidates.append(bytes.fromhex(text))
    except ValueError:
        pass
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            candidates.append(decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise CodecKeyError(
        "codec key must be 32 bytes as 64 hex digits or base64 "
        "(generate one with `python -m watcher_temporal.codec --generate-key`)"
    )


def key_id(key: bytes) -> str:
    """A short, non-secret name of ``key``: the start of its SHA-256."""
    return hashlib.sha256(b"watcher-temporal codec key id\0" + key).hexdigest()[:16]


class _ReportOnce:
    """Logs each distinct key problem once per process, at ERROR, with the fix."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, found: str, message: str) -> None:
        with self._lock:
            if found in self._seen:
                return
            self._seen.add(found)
        logger.error("%s", message)


_report_key_problem = _ReportOnce()


def _unknown_key_message(found: str, known: Sequence[str]) -> str:
    configured = "missing" if not known else known[0] + (f" (ring {', '.join(known)})" if len(known) > 1 else "")
    return (
        f"payload was encrypted with codec key {found or '(unknown)'}, but the configured key is "
        f"{configured}: give this process the key the other workers and clients use "
        f"({KEYS_ENV}, {KEY_ENV} or {KEY_FILE_ENV}); during a rotation keep the old key in the ring. "
        "Tasks needing it fail and are retried until then"
    )


def _refused() -> Payload:
    """The stand-in of a refused plaintext payload: its converter fails the workflow."""
    return Payload(metadata={"encoding": REFUSED_ENCODING})


class AesGcmCodec(PayloadCodec):
    """Encrypts each payload (the whole serialised ``Payload``) with AES-GCM, over a key ring.

    The first key encrypts; any key decrypts the payloads naming its key id.
    Payloads that are not encrypted pass through ``decode`` unchanged (a
    namespace that turned encryption on keeps reading its older histories)
    unless ``require_encryption``: then they become a stand-in whose
    conversion fails with a non-retryable :data:`PLAINTEXT_REFUSED` error.

    Args:
        key: The newest key, used to encrypt.
        older_keys: Keys still accepted for decryption.
        require_encryption: Refuse plaintext payloads.
    """

    def __init__(self, key: bytes, *older_keys: bytes, require_encryption: bool = False) -> None:
        keys = (key, *older_keys)
        if any(len(k) != 32 for k in keys):
            raise CodecKeyError("codec key must be 32 bytes")
        if len(keys) > MAX_KEYS:
            raise CodecKeyError(f"at most {MAX_KEYS} codec keys in a ring")
        self._ring = {key_id(k): AESGCM(k) for k in keys}
        self.key_id = key_id(key)
        self.key_ids = tuple(self._ring)
        self.require_encryption = require_encryption

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ring[self.key_id].encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return _refused() if self.require_encryption else payload
        found = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")[:64]
        aead = self._ring.get(found)
        if aead is None:
            message = _unknown_key_message(found, self.key_ids)
            _report_key_problem(found, message)
            raise CodecKeyError(message)
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, found.encode())
        except InvalidTag:
            raise CodecKeyError(f"payload encrypted with key {found} failed authentication (corrupted?)") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


class KeylessCodec(PayloadCodec):
    """The codec of a process without a key: plaintext passes, encrypted payloads fail clearly.

    Without it, a worker missing the key fails every task with "Unknown
    payload encoding binary/encrypted", forever and without saying what to
    do; with it the error names the key id and the variables, logged once.
    """

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                found = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")[:64]
                message = _unknown_key_message(found, ())
                _report_key_problem(found, message)
                raise CodecKeyError(message)
        return list(payloads)


class PlaintextRefusedConverter(EncodingPayloadConverter):
    """Converts the stand-in of a refused plaintext payload into a non-retryable failure."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # never produces payloads

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise ApplicationError(
            "plaintext payload refused: this worker requires encrypted payloads "
            f"({REQUIRE_ENCRYPTION_ENV}=1); start workflows, signals, updates and queries from a client "
            f"configured with the codec key ring ({KEYS_ENV}, {KEY_ENV} or {KEY_FILE_ENV})",
            type=PLAINTEXT_REFUSED,
            non_retryable=True,
        )


class EncryptedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces go into an encrypted attribute, except the plaintext refusal.

    The refusal must be readable by the client that was refused, which has
    no key; it holds no secret (fixed text, no stack trace).
    """

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        if isinstance(exception, ApplicationError) and exception.type == PLAINTEXT_REFUSED:
            DefaultFailureConverter().to_failure(exception, payload_converter, failure)
            failure.stack_trace = ""
            return
        super().to_failure(exception, payload_converter, failure)


def _refusing(payload_converter_class: type[Any]) -> type[Any]:
    """``payload_converter_class`` that also understands refused plaintext payloads."""

    def __init__(self: Any) -> None:
        payload_converter_class.__init__(self)
        self._set_converters(*self.converters.values(), PlaintextRefusedConverter())

    return type(
        f"PlaintextRefusing{payload_converter_class.__name__}", (payload_converter_class,), {"__init__": __init__}
    )


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` encrypting payloads and failure texts with ``codec`` (unchanged if None)."""
    if codec is None:
        return converter
    changed = dataclasses.replace(
        converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    if isinstance(codec, AesGcmCodec) and codec.require_encryption:
        changed = dataclasses.replace(
            changed,
            payload_converter_class=_refusing(converter.payload_converter_class),
            failure_converter_class=EncryptedFailureConverter,
        )
    return changed


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _keys_from_text(text: str, source: str) -> tuple[bytes, ...]:
    keys: list[bytes] = []
    for number, line in enumerate(text.replace(",", "\n").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            keys.append(parse_key(line))
        except CodecKeyError as err:
            raise CodecKeyError(f"{source}, key {number}: {err}") from None
    if len(keys) > MAX_KEYS:
        raise CodecKeyError(f"{source}: at most {MAX_KEYS} keys")
    if len({key_id(k) for k in keys}) != len(keys):
        raise CodecKeyError(f"{source}: the same key twice")
    return tuple(keys)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CodecSettings:
    """Payload encryption of one process: its key ring and whether plaintext is refused.

    Attributes:
        keys: The key ring, newest (encrypting) key first; empty when
            encryption is off. Never shown by ``repr``.
        require_encryption: Refuse plaintext payloads (needs keys).
    """

    keys: tuple[bytes, ...] = dataclasses.field(default=(), repr=False)
    require_encryption: bool = False

    def __post_init__(self) -> None:
        if self.require_encryption and not self.keys:
            raise CodecKeyError(
                f"{REQUIRE_ENCRYPTION_ENV}=1 needs a codec key ring ({KEYS_ENV}, {KEY_ENV} or {KEY_FILE_ENV})"
            )

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The non-secret ids of the ring's keys, newest first."""
        return tuple(key_id(k) for k in self.keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CodecSettings:
        """Read :data:`KEY_ENV`, :data:`KEYS_ENV`, :data:`KEY_FILE_ENV` and :data:`REQUIRE_ENCRYPTION_ENV`.

        Raises:
            CodecKeyError: more than one key variable, an unreadable file, a
                bad key (never echoed), encryption required without keys.
        """
        env = os.environ if env is None else env
        given = {name: env.get(name, "").strip() for name in (KEY_ENV, KEYS_ENV, KEY_FILE_ENV)}
        set_ = [name for name, value in given.items() if value]
        if len(set_) > 1:
            raise CodecKeyError(f"set one of {KEY_ENV}, {KEYS_ENV} or {KEY_FILE_ENV}, not both")
        keys: tuple[bytes, ...] = ()
        if given[KEY_ENV]:
            keys = (parse_key(given[KEY_ENV]),)
        elif given[KEYS_ENV]:
            keys = _keys_from_text(given[KEYS_ENV], KEYS_ENV)
        elif given[KEY_FILE_ENV]:
            path = given[KEY_FILE_ENV]
            try:
                text = Path(path).read_text()
            except OSError as err:
                raise CodecKeyError(f"cannot read {KEY_FILE_ENV} {path}: {err.strerror}") from None
            keys = _keys_from_text(text, f"{KEY_FILE_ENV} {path}")
        return cls(keys=keys, require_encryption=_truthy(env.get(REQUIRE_ENCRYPTION_ENV, "")))

    def codec(self) -> AesGcmCodec | None:
        """The encrypting codec of the ring, or None when encryption is off."""
        if not self.keys:
            return None
        return AesGcmCodec(*self.keys, require_encryption=self.require_encryption)

    def data_converter(self, base: DataConverter) -> DataConverter:
        """``base`` with this encryption; without keys, with a codec naming encrypted payloads it cannot read."""
        codec = self.codec()
        if codec is None:
            return dataclasses.replace(base, payload_codec=KeylessCodec())
        return with_codec(base, codec)


def key_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """The newest key the environment configures, or None when encryption is off.

    Raises:
        CodecKeyError: see :meth:`CodecSettings.from_env`.
    """
    keys = CodecSettings.from_env(env).keys
    return keys[0] if keys else None


def codec_from_env(env: Mapping[str, str] | None = None) -> AesGcmCodec | None:
    """The codec the environment configures, or None."""
    return CodecSettings.from_env(env).codec()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m watcher_temporal.codec --generate-key``: print a new random key."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m watcher_temporal.codec", description=__doc__.splitlines()[0])
    parser.add_argument("--generate-key", action="store_true", help="print a new base64 key for " + KEY_ENV)
    args = parser.parse_args(argv)
    if not args.generate_key:
        parser.print_help()
        return 2
    print(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
