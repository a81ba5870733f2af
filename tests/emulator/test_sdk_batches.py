"""Fidelity: the official google-genai SDK drives the emulator's Batch API as it drives the service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emuhelp import FLASH, KEY
from google import genai
from google.genai import errors, types

from pipeline.emulator import EmulatorConfig, EmulatorThread

DONE = {
    types.JobState.JOB_STATE_SUCCEEDED,
    types.JobState.JOB_STATE_FAILED,
    types.JobState.JOB_STATE_CANCELLED,
    types.JobState.JOB_STATE_EXPIRED,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    config = EmulatorConfig(
        port=0, api_key=KEY, batch_pending_s=0.05, batch_rows_per_s=2000.0,
        batch_enqueued_tokens=10_000,
    )  # fmt: skip
    with EmulatorThread(config) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorThread) -> genai.Client:
    return genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=emu.base_url)
    )


def _wait(client: genai.Client, name: str) -> types.BatchJob:
    deadline = time.monotonic() + 10
    while True:
        job = client.batches.get(name=name)
        if job.state in DONE:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_file_batch_end_to_end(client: genai.Client, tmp_path: Path) -> None:
    requests = [
        {"key": f"row-{i}", "request": {"contents": [{"parts": [{"text": f"Batch row {i}"}], "role": "user"}],
                                        "generation_config": {"thinking_config": {"thinking_level": "low"}}}}
        for i in range(4)
    ]  # fmt: skip
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in requests) + "\n")
    uploaded = client.files.upload(
        file=path, config=types.UploadFileConfig(display_name="rows", mime_type="jsonl")
    )
    assert uploaded.name is not None
    job = client.batches.create(
        model=FLASH, src=uploaded.name, config={"display_name": "sdk-file-job"}
    )
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name == "sdk-file-job" and job.model == f"models/{FLASH}"
    done = _wait(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.end_time is not None and done.create_time is not None
    assert done.dest is not None and done.dest.file_name is not None
    data = client.files.download(file=done.dest.file_name)
    lines = [json.loads(x) for x in data.splitlines()]
    assert [x["key"] for x in lines] == [r["key"] for r in requests]
    for row in lines:
        response = types.GenerateContentResponse.model_validate(row["response"])
        i = int(row["key"].split("-")[1])
        online = client.models.generate_content(
            model=FLASH,
            contents=f"Batch row {i}",
            config=types.GenerateContentConfig(
                thinking_config=types.ThinkingConfig(
                    thinking_level=types.ThinkingLevel.LOW
                )
            ),
        )
        assert response.text == online.text
        assert row["response"]["usageMetadata"] == online.usage_metadata.model_dump(  # type: ignore[union-attr]
            by_alias=True, exclude_none=True, mode="json"
        )
    result = client.files.get(name=done.dest.file_name)
    assert result.source == types.FileSource.GENERATED and result.download_uri
    assert client.files.download(file=result) == data


def test_inline_batch(client: genai.Client) -> None:
    src: list[types.InlinedRequestDict] = [
        {"contents": "Tell me a joke", "metadata": {"key": "joke"}},
        {
            "contents": "Answer in JSON",
            "config": {"response_mime_type": "application/json"},
            "metadata": {"key": "json"},
        },
        {"contents": "Broken [[emu:fail=500]]", "metadata": {"key": "broken"}},
    ]
    job = client.batches.create(model=FLASH, src=src)
    assert job.name is not None
    done = _wait(client, job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_responses is not None
    by_key = {r.metadata["key"]: r for r in done.dest.inlined_responses if r.metadata}
    joke = by_key["joke"].response
    assert (
        joke is not None
        and joke.text
        == client.models.generate_content(model=FLASH, contents="Tell me a joke").text
    )
    assert json.loads(by_key["json"].response.text or "")  # type: ignore[union-attr]
    error = by_key["broken"].error
    assert error is not None and error.code == 500 and by_key["broken"].response is None


def test_list_cancel_delete(client: genai.Client) -> None:
    slow = client.batches.create(
        model=FLASH,
        src=[types.InlinedRequestDict(contents=f"row {i}") for i in range(50)],
        config={"display_name": "slow [[emu:rows_per_s=5]]"},
    )
    quick = client.batches.create(
        model=FLASH, src=[types.InlinedRequestDict(contents="one")]
    )
    assert slow.name is not None and quick.name is not None
    names = [j.name for j in client.batches.list(config={"page_size": 1})]
    assert names.index(quick.name) < names.index(slow.name)
    client.batches.cancel(name=slow.name)
    cancelled = client.batches.get(name=slow.name)
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    with pytest.raises(errors.ClientError) as twice:
        client.batches.cancel(name=slow.name)
    assert twice.value.code == 400
    _wait(client, quick.name)
    client.batches.delete(name=quick.name)
    with pytest.raises(errors.ClientError) as gone:
        client.batches.get(name=quick.name)
    assert (gone.value.code, gone.value.status) == (404, "NOT_FOUND")


def test_quota_errors_raise_client_error(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as over:
        client.batches.create(
            model=FLASH, src=[types.InlinedRequestDict(contents="x" * 50_000)]
        )
    assert (over.value.code, over.value.status) == (429, "RESOURCE_EXHAUSTED")
    with pytest.raises(errors.ClientError) as missing:
        client.batches.create(model=FLASH, src="files/doesnotexist")
    assert missing.value.code == 403
