"""Optional payload encryption: server names and hosts never stored in plaintext.

With a key configured, every payload the project's clients and workers send
to Temporal (workflow and activity inputs and results, queries, signals,
heartbeat details, memos) is encrypted with AES-256-GCM before it leaves the
process, and failure messages and stack traces are moved into an encrypted
attribute (``DefaultFailureConverterWithEncodedAttributes``). The Temporal
server, its database and the Web UI see ciphertext; the Web UI shows
plaintext only through the codec server (``python -m watcher_temporal.codec_server``).

Keys: ``WATCHER_TEMPORAL_CODEC_KEY`` (32 bytes, base64 or 64 hex digits) or
``WATCHER_TEMPORAL_CODEC_KEY_FILE`` (a file holding the same). Generate one
with ``python -m watcher_temporal.codec --generate-key``. Every process that
touches a namespace (workers, starters, CLI, codec server) needs the same key.
Search attributes are NOT encrypted (the server must index them): server ids
and host names in them stay visible to whoever can list workflows.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

KEY_ENV = "WATCHER_TEMPORAL_CODEC_KEY"
KEY_FILE_ENV = "WATCHER_TEMPORAL_CODEC_KEY_FILE"

#: ``encoding`` metadata of an encrypted payload.
ENCODING = b"binary/encrypted"
#: Metadata naming the key (a hash of it, not the key), so a wrong key is named.
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


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


class AesGcmCodec(PayloadCodec):
    """Encrypts each payload (the whole serialised ``Payload``) with AES-GCM.

    Payloads that are not encrypted pass through ``decode`` unchanged, so a
    namespace that turned encryption on keeps reading its older histories.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CodecKeyError("codec key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        found = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        if found != self.key_id:
            raise CodecKeyError(
                f"payload was encrypted with codec key {found or '(unknown)'}, but the configured key is "
                f"{self.key_id}: set {KEY_ENV} or {KEY_FILE_ENV} to the key the workers use"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, found.encode())
        except InvalidTag:
            raise CodecKeyError(f"payload encrypted with key {found} failed authentication (corrupted?)") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def key_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """The key the environment configures, or None when encryption is off.

    Raises:
        CodecKeyError: both variables set, an unreadable file, a bad key.
    """
    env = os.environ if env is None else env
    text, path = env.get(KEY_ENV, "").strip(), env.get(KEY_FILE_ENV, "").strip()
    if text and path:
        raise CodecKeyError(f"set {KEY_ENV} or {KEY_FILE_ENV}, not both")
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError as err:
            raise CodecKeyError(f"cannot read {KEY_FILE_ENV} {path}: {err.strerror}") from None
    return parse_key(text) if text else None


def codec_from_env(env: Mapping[str, str] | None = None) -> AesGcmCodec | None:
    """The codec the environment configures, or None."""
    key = key_from_env(env)
    return AesGcmCodec(key) if key is not None else None


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` encrypting payloads and failure texts with ``codec`` (unchanged if None)."""
    if codec is None:
        return converter
    return dataclasses.replace(
        converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


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
