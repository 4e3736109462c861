"""Payload encryption: history holds ciphertext, the right key reads it, a wrong key fails clearly."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from localnova.harness import LocalNovaHandle
from tests.realstack import boot_on
from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.codec import (
    ENCODING,
    AesGcmCodec,
    CodecKeyError,
    codec_from_env,
    key_id,
    parse_key,
    with_codec,
)
from watcher_temporal.codec_server import CodecServerSettings, make_server
from watcher_temporal.codec_server_auth import CodecServerAuth
from watcher_temporal.contract import MigrateServerInput, MigrationResult, MigrationStatus
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker

KEY = bytes(range(32))
TOKEN = "test-token-0123456789abcdefghij"
SERVER = CodecServerSettings(port=0, auth=CodecServerAuth(tokens=(TOKEN,)), origins=("http://localhost:8233",))
OTHER_KEY = bytes(range(1, 33))


def test_keys_parse_from_hex_and_base64_and_bad_ones_are_named() -> None:
    assert parse_key(KEY.hex()) == KEY
    assert parse_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_key(base64.urlsafe_b64encode(KEY).decode().rstrip("=")) == KEY
    with pytest.raises(CodecKeyError, match="32 bytes") as err:
        parse_key("c2hvcnQ=")
    assert "c2hvcnQ" not in str(err.value)  # never echo the key


def test_key_comes_from_env_or_file(tmp_path: Any) -> None:
    assert codec_from_env({}) is None
    key_file = tmp_path / "key"
    key_file.write_text(KEY.hex() + "\n")
    codec = codec_from_env({"WATCHER_TEMPORAL_CODEC_KEY_FILE": str(key_file)})
    assert codec is not None and codec.key_id == key_id(KEY)
    with pytest.raises(CodecKeyError, match="not both"):
        codec_from_env({"WATCHER_TEMPORAL_CODEC_KEY": KEY.hex(), "WATCHER_TEMPORAL_CODEC_KEY_FILE": str(key_file)})
    with pytest.raises(CodecKeyError, match="cannot read"):
        codec_from_env({"WATCHER_TEMPORAL_CODEC_KEY_FILE": str(tmp_path / "missing")})


async def test_round_trip_and_wrong_key_and_tampering() -> None:
    codec = AesGcmCodec(KEY)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"resource_name": "db-07"}')
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING and b"db-07" not in sealed.data
    assert await codec.decode([sealed]) == [plain]
    assert await codec.decode([plain]) == [plain]  # older, unencrypted payloads still read
    with pytest.raises(CodecKeyError, match=f"encrypted with codec key {codec.key_id}.*configured key is"):
        await AesGcmCodec(OTHER_KEY).decode([sealed])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(CodecKeyError, match="failed authentication"):
        await codec.decode([tampered])


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path leading to it."""
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        if isinstance(value, Message):
            items: Any = [value]
        elif hasattr(value, "items"):  # map field
            items = value.values()
        elif isinstance(value, (str, bytes, int, float, bool)):
            continue
        else:  # repeated field
            items = value
        for item in items:
            if isinstance(item, Payload):
                yield where, item
            elif isinstance(item, Message):
                yield from payloads_in(item, where)


@pytest.mark.integration
async def test_history_holds_only_ciphertext_and_wrong_key_fails_clearly(
    dev_env: WorkflowEnvironment, localnova: LocalNovaHandle
) -> None:
    def client_with(key: bytes | None) -> Client:
        converter = with_codec(pydantic_data_converter, AesGcmCodec(key) if key else None)
        return Client(dev_env.client.service_client, namespace=dev_env.client.namespace, data_converter=converter)

    client = client_with(KEY)
    server = boot_on(localnova, "host1")
    name = f"secret-name-{uuid.uuid4().hex[:6]}"
    nova = NovaGateway(connect=localnova.connect)
    task_queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, task_queue=task_queue, nova=nova):
        params = MigrateServerInput(
            resource_id=server,
            migration_type="cold",
            source_node="host1",
            destination_node="host2",
            resource_name=name,
            poll_interval_seconds=0.5,
        )
        handle = await start_migration(client, params, task_queue=task_queue)
        result = await handle.result()
    nova.close()
    assert isinstance(result, MigrationResult) and result.status is MigrationStatus.SUCCEEDED
    assert result.resource_name == name

    history = await client_with(None).get_workflow_handle(handle.id).fetch_history()
    found = [(event, where, p) for event in history.events for where, p in payloads_in(event)]
    assert found
    for event, where, payload in found:
        if "search_attributes" in where:
            continue  # indexed by the server: plaintext by design (documented)
        assert name.encode() not in payload.data and b"host2" not in payload.data, where
        if event.marker_recorded_event_attributes.marker_name == "core_patch":
            assert set(json.loads(payload.data)) <= {"id", "deprecated"}, payload  # a patch id, no data
            continue  # workflow.patched() ids, written by the SDK's core after the codec (documented)
        assert payload.metadata.get("encoding") == ENCODING, where

    with pytest.raises(CodecKeyError, match="configured key is"):
        await client_with(OTHER_KEY).get_workflow_handle(handle.id, result_type=MigrationResult).result()
    with pytest.raises(Exception) as plain:
        await client_with(None).get_workflow_handle(handle.id, result_type=MigrationResult).result()
    assert "binary/encrypted" in str(plain.value) or "encoding" in str(plain.value).lower()


def _post(url: str, body: dict[str, Any], origin: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {TOKEN}",
        **({"Origin": origin} if origin else {}),
    }
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


@pytest.fixture
def codec_server() -> Iterator[str]:
    server = make_server(AesGcmCodec(KEY), SERVER)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_codec_server_encodes_decodes_with_cors(codec_server: str) -> None:
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"x"').decode(),
    }
    status, headers, encoded = _post(f"{codec_server}/encode", {"payloads": [plain]}, origin="http://localhost:8233")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
    [sealed] = encoded["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    status, _, decoded = _post(f"{codec_server}/default/decode", encoded)  # the UI's namespaced path
    assert status == 200 and decoded == {"payloads": [plain]}

    status, headers, _ = _post(f"{codec_server}/decode", encoded, origin="http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers

    other = make_server(AesGcmCodec(OTHER_KEY), SERVER)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, error = _post(f"http://127.0.0.1:{other.server_address[1]}/decode", encoded)
    finally:
        other.shutdown()
        other.server_close()
    assert status == 400 and "configured key is" in error["error"]
