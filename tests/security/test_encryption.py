"""Encryption is enforceable: plaintext refused non-retryably, keys rotate, a missing key is named once."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from watcher_temporal.activities.nova import NovaGateway
from watcher_temporal.codec import (
    KEY_ID_METADATA,
    PLAINTEXT_REFUSED,
    AesGcmCodec,
    CodecKeyError,
    CodecSettings,
    KeylessCodec,
    key_id,
)
from watcher_temporal.contract import MigrateServerInput, MigrationType
from watcher_temporal.starter import start_migration
from watcher_temporal.worker import build_worker

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"resource_name": "db-07"}')


def _client(env: WorkflowEnvironment, settings: CodecSettings | None) -> Client:
    converter = settings.data_converter(pydantic_data_converter) if settings else pydantic_data_converter
    return Client(env.client.service_client, namespace=env.client.namespace, data_converter=converter)


@pytest.mark.integration
async def test_plaintext_start_fails_the_workflow_at_once_and_never_retries(dev_env: WorkflowEnvironment) -> None:
    required = CodecSettings(keys=(NEW_KEY,), require_encryption=True)
    worker_client = _client(dev_env, required)
    plaintext_client = _client(dev_env, None)  # a client that does not have the key
    task_queue = f"sec-plain-{uuid.uuid4().hex[:8]}"
    params = MigrateServerInput(
        resource_id=str(uuid.uuid4()), migration_type=MigrationType.LIVE, source_node="host1", destination_node="host2"
    )
    nova = NovaGateway(connect=lambda: pytest.fail("no Nova call for a refused workflow"))
    async with build_worker(worker_client, task_queue=task_queue, nova=nova):
        handle = await start_migration(plaintext_client, params, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == PLAINTEXT_REFUSED and cause.non_retryable
    assert "requires encrypted payloads" in cause.message and "WATCHER_TEMPORAL_CODEC_KEYS" in cause.message

    history = await handle.fetch_history()
    types = [event.event_type for event in history.events]
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) == 1, "failed on the first task, no retry"
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types
    assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED


async def test_encrypted_start_still_runs_under_required_encryption(dev_env: WorkflowEnvironment) -> None:
    """The refusal is about plaintext only: the same start with the key passes the input check."""
    required = CodecSettings(keys=(NEW_KEY,), require_encryption=True)
    codec = required.codec()
    assert codec is not None
    [sealed] = await codec.encode([PLAIN])
    assert await codec.decode([sealed]) == [PLAIN]
    [refused] = await codec.decode([PLAIN])
    assert refused.metadata["encoding"] == b"binary/plaintext-refused" and not refused.data
    converter = required.data_converter(pydantic_data_converter).payload_converter
    with pytest.raises(ApplicationError, match="plaintext payload refused") as err:
        converter.from_payloads([refused])
    assert err.value.non_retryable and err.value.type == PLAINTEXT_REFUSED
    assert converter.from_payloads(converter.to_payloads(["x"])) == ["x"], "normal values still convert"


async def test_rotation_new_payloads_use_the_new_key_old_ones_still_decode() -> None:
    before = CodecSettings.from_env({"WATCHER_TEMPORAL_CODEC_KEY": OLD_KEY.hex()}).codec()
    assert before is not None
    [written_before] = await before.encode([PLAIN])
    assert written_before.metadata[KEY_ID_METADATA] == key_id(OLD_KEY).encode()

    ring = CodecSettings.from_env({"WATCHER_TEMPORAL_CODEC_KEYS": f"{NEW_KEY.hex()},{OLD_KEY.hex()}"}).codec()
    assert ring is not None and ring.key_ids == (key_id(NEW_KEY), key_id(OLD_KEY))
    assert await ring.decode([written_before]) == [PLAIN]
    [written_after] = await ring.encode([PLAIN])
    assert written_after.metadata[KEY_ID_METADATA] == key_id(NEW_KEY).encode()

    new_only = AesGcmCodec(NEW_KEY)
    assert await new_only.decode([written_after]) == [PLAIN]
    with pytest.raises(CodecKeyError, match=f"encrypted with codec key {key_id(OLD_KEY)}"):
        await new_only.decode([written_before])  # retire the old key only after its histories expire


def test_key_ring_file_newest_first_with_comments(tmp_path: Any) -> None:
    ring_file = tmp_path / "keys"
    ring_file.write_text(f"# rotated 2026-11-30\n{NEW_KEY.hex()}\n\n{OLD_KEY.hex()}  # retire after 30 days\n")
    settings = CodecSettings.from_env({"WATCHER_TEMPORAL_CODEC_KEY_FILE": str(ring_file)})
    assert settings.key_ids == (key_id(NEW_KEY), key_id(OLD_KEY))
    assert NEW_KEY.hex() not in repr(settings) and "keys=" not in repr(settings)
    ring_file.write_text(f"{NEW_KEY.hex()}\nnot-a-key\n")
    with pytest.raises(CodecKeyError, match="key 2: codec key must be 32 bytes") as err:
        CodecSettings.from_env({"WATCHER_TEMPORAL_CODEC_KEY_FILE": str(ring_file)})
    assert "not-a-key" not in str(err.value)
    with pytest.raises(CodecKeyError, match="not both"):
        CodecSettings.from_env({"WATCHER_TEMPORAL_CODEC_KEY": NEW_KEY.hex(), "WATCHER_TEMPORAL_CODEC_KEYS": "x"})
    with pytest.raises(CodecKeyError, match="REQUIRE_ENCRYPTION=1 needs a codec key ring"):
        CodecSettings.from_env({"WATCHER_TEMPORAL_REQUIRE_ENCRYPTION": "1"})
    assert CodecSettings.from_env(
        {"WATCHER_TEMPORAL_CODEC_KEY": OLD_KEY.hex(), "WATCHER_TEMPORAL_REQUIRE_ENCRYPTION": "1"}
    ).require_encryption


async def test_missing_or_wrong_key_is_reported_once_with_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    stray_key = bytes(range(7, 39))
    [sealed] = await AesGcmCodec(stray_key).encode([PLAIN])
    caplog.set_level(logging.ERROR, logger="watcher_temporal.codec")
    for codec in (KeylessCodec(), AesGcmCodec(NEW_KEY), KeylessCodec()):
        for _ in range(3):
            with pytest.raises(CodecKeyError, match=f"encrypted with codec key {key_id(stray_key)}"):
                await codec.decode([sealed])
    reports = [r.getMessage() for r in caplog.records if r.name == "watcher_temporal.codec"]
    assert len(reports) == 1, reports
    assert "WATCHER_TEMPORAL_CODEC_KEYS" in reports[0] and "keep the old key in the ring" in reports[0]
