"""The Batch API's wire formats, with literal JSON: input lines, create, the job resource, result lines."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pipeline.errors import RateLimited, ReplyInvalid, RequestRejected
from pipeline.providers import (
    GeminiProvider,
    OpenAIProvider,
    StaticCredentials,
    VertexProvider,
)
from pipeline.providers._batch import multipart_frame
from pipeline.records import FileSlice, GenerationSettings, HttpResponse, Part, Prompt

SECRET = "AIzaSy-test-key-0123456789"  # as tests/providers/conftest.py


def prompt(text: str = "Describe photosynthesis.", **settings: object) -> Prompt:
    return Prompt(
        row_id="row-1",
        model="gemini-3-flash-preview",
        parts=(Part(text=text),),
        generation=GenerationSettings(**settings),  # type: ignore[arg-type]
        system="Be brief.",
    )


@pytest.fixture
def gemini(gemini_credentials: StaticCredentials) -> GeminiProvider:
    return GeminiProvider(
        model="gemini-3-flash-preview",
        credentials=gemini_credentials,
        base_url="http://emu",
    )


@pytest.fixture
def openai(bearer_credentials: StaticCredentials) -> OpenAIProvider:
    return OpenAIProvider(
        model="gemini-3-flash-preview",
        credentials=bearer_credentials,
        base_url="http://agg/v1",
    )


def test_a_gemini_line_carries_exactly_the_online_body(gemini: GeminiProvider) -> None:
    asked = prompt(temperature=0.5, thinking_level="low")
    line = gemini.build_batch_line(asked)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc["key"] == "row-1"
    online = gemini.build(asked)
    assert isinstance(online.body, bytes)
    assert doc["request"] == json.loads(online.body)


def test_gemini_create_get_list_cancel_download(gemini: GeminiProvider) -> None:
    create = gemini.build_batch_create(input_file="files/abc", display_name="job 1")
    assert create.method == "POST"
    assert (
        create.url
        == "http://emu/v1beta/models/gemini-3-flash-preview:batchGenerateContent"
    )
    assert json.loads(create.body) == {  # type: ignore[arg-type]
        "batch": {"displayName": "job 1", "inputConfig": {"fileName": "files/abc"}}
    }
    assert create.headers["x-goog-api-key"] == SECRET
    assert gemini.build_batch_get("batches/x").url == "http://emu/v1beta/batches/x"
    assert gemini.build_batch_get("x").url == "http://emu/v1beta/batches/x"
    assert gemini.build_batch_list().url == "http://emu/v1beta/batches?pageSize=100"
    assert gemini.build_batch_list("t 1").url.endswith("pageToken=t%201")
    assert (
        gemini.build_batch_cancel("batches/x").url
        == "http://emu/v1beta/batches/x:cancel"
    )
    assert (
        gemini.build_batch_download("files/batch-x").url
        == "http://emu/download/v1beta/files/batch-x:download?alt=media"
    )


RECORDED_PENDING = {  # gemini-api.md section 9, a captured create reply
    "name": "batches/4m855v7q30kc7gtzcigdg9m72o87s08w33vp",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash",
        "displayName": "test-batch-job",
        "createTime": "2025-12-10T18:27:01.407650525Z",
        "updateTime": "2025-12-10T18:27:01.407650525Z",
        "batchStats": {"requestCount": "3", "pendingRequestCount": "3"},
        "state": "BATCH_STATE_PENDING",
        "name": "batches/4m855v7q30kc7gtzcigdg9m72o87s08w33vp",
    },
}


def test_a_recorded_operation_parses(
    gemini: GeminiProvider, respond: Callable[..., HttpResponse]
) -> None:
    job = gemini.parse_batch(respond(200, RECORDED_PENDING))
    assert job.name == "batches/4m855v7q30kc7gtzcigdg9m72o87s08w33vp"
    assert job.state == "PENDING" and not job.done
    assert job.display_name == "test-batch-job"
    assert (job.total, job.succeeded, job.failed) == (3, 0, 0)
    finished = {
        "name": "batches/b",
        "done": True,
        "metadata": {
            "state": "BATCH_STATE_SUCCEEDED",
            "batchStats": {
                "requestCount": "3",
                "successfulRequestCount": "2",
                "failedRequestCount": "1",
            },
            "output": {"responsesFile": "files/batch-b"},
        },
        "response": {"responsesFile": "files/batch-b"},
    }
    done = gemini.parse_batch(respond(200, finished))
    assert done.done and done.state == "SUCCEEDED"
    assert done.result_files == ("files/batch-b",) and done.answered == 3
    expired = {
        "name": "batches/c",
        "done": True,
        "metadata": {"state": "BATCH_STATE_EXPIRED"},
        "error": {"code": 4, "message": "The batch job expired"},
    }
    gone = gemini.parse_batch(respond(200, expired))
    assert gone.state == "EXPIRED" and gone.error == "The batch job expired"
    assert gone.result_files == ()


def test_list_pages_and_errors(
    gemini: GeminiProvider, respond: Callable[..., HttpResponse]
) -> None:
    jobs, token = gemini.parse_batch_list(
        respond(200, {"operations": [RECORDED_PENDING], "nextPageToken": "10"})
    )
    assert [j.display_name for j in jobs] == ["test-batch-job"] and token == "10"
    assert gemini.parse_batch_list(respond(200, {})) == ([], None)
    help_only = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.Help", "links": []}],
        }
    }
    with pytest.raises(
        RateLimited
    ):  # create's enqueued-token quota: wait, not a daily stop
        gemini.parse_batch(respond(429, help_only))
    missing = {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
    with pytest.raises(RequestRejected) as caught:
        gemini.parse_batch(respond(404, missing))
    assert caught.value.http_status == 404


def test_gemini_result_lines(gemini: GeminiProvider) -> None:
    reply = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hi."}], "role": "model"},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 2,
            "totalTokenCount": 6,
        },
    }
    ok = gemini.parse_batch_line(
        json.dumps({"key": "row-1", "response": reply}).encode()
    )
    assert ok.key == "row-1" and ok.status == 200
    parsed = gemini.parse_batch_reply(ok, prompt())
    assert parsed.status == "ok" and parsed.text == "Hi."
    assert parsed.usage.input_tokens == 4 and parsed.usage.total_tokens == 6
    error = {
        "code": 400,
        "message": "* GenerateContentRequest.contents: bad",
        "status": "INVALID_ARGUMENT",
    }
    bad = gemini.parse_batch_line(json.dumps({"key": "row-2", "error": error}).encode())
    assert bad.key == "row-2" and bad.status == 400
    with pytest.raises(RequestRejected) as caught:
        gemini.parse_batch_reply(bad, prompt())
    assert caught.value.code == "INVALID_ARGUMENT" and "contents" in str(caught.value)
    inline = gemini.parse_batch_line(
        json.dumps({"response": reply, "metadata": {"key": "row-3"}}).encode()
    )
    assert inline.key == "row-3"
    with pytest.raises(ReplyInvalid):
        gemini.parse_batch_line(b'{"key": "x", "resp')


def test_a_json_reply_in_a_line_is_judged_as_online(gemini: GeminiProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    wrong = {
        "candidates": [
            {"content": {"parts": [{"text": '{"a": "x"}'}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2},
    }
    line = gemini.parse_batch_line(json.dumps({"key": "k", "response": wrong}).encode())
    with pytest.raises(ReplyInvalid) as caught:
        gemini.parse_batch_reply(line, prompt(response_schema=schema))
    assert caught.value.code == "SCHEMA_MISMATCH" and caught.value.usage is not None


def test_vertex_has_no_batch_mode(gemini_credentials: StaticCredentials) -> None:
    vertex = VertexProvider(
        model="gemini-3-flash-preview", credentials=gemini_credentials, project="p"
    )
    assert not vertex.supports_batch
    with pytest.raises(NotImplementedError):
        vertex.build_batch_line(prompt())


def test_openai_lines_upload_create_and_results(openai: OpenAIProvider) -> None:
    asked = prompt(temperature=0.5)
    line = json.loads(openai.build_batch_line(asked))
    assert line["custom_id"] == "row-1"
    assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
    assert line["body"] == json.loads(openai.build(asked).body)  # type: ignore[arg-type]
    head, tail = openai.batch_file_frame("pipeline job 1")
    upload = openai.build_batch_file_upload(FileSlice("/x", 0, 10), "pipeline job 1")
    boundary = multipart_frame("pipeline job 1")[2].split("boundary=")[1]
    assert upload.url == "http://agg/v1/files"
    assert upload.headers["content-type"] == f"multipart/form-data; boundary={boundary}"
    assert head.startswith(f"--{boundary}\r\n".encode()) and b'name="purpose"' in head
    assert tail == f"\r\n--{boundary}--\r\n".encode()
    assert upload.headers["authorization"] == f"Bearer {SECRET}"
    create = openai.build_batch_create(
        input_file="file-1", display_name="pipeline job 1"
    )
    assert json.loads(create.body) == {  # type: ignore[arg-type]
        "input_file_id": "file-1",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"pipeline_job": "pipeline job 1"},
    }
    assert (
        openai.build_batch_download("file-9").url
        == "http://agg/v1/files/file-9/content"
    )
    assert (
        openai.build_batch_cancel("batch_1").url
        == "http://agg/v1/batches/batch_1/cancel"
    )


def test_openai_batch_objects_and_lines(
    openai: OpenAIProvider, respond: Callable[..., HttpResponse]
) -> None:
    batch = {
        "id": "batch_1",
        "status": "completed",
        "output_file_id": "file-out",
        "error_file_id": "file-err",
        "request_counts": {"total": 3, "completed": 2, "failed": 1},
        "metadata": {"pipeline_job": "pipeline job 1"},
    }
    job = openai.parse_batch(respond(200, batch))
    assert job.state == "SUCCEEDED" and job.result_files == ("file-out", "file-err")
    assert job.display_name == "pipeline job 1" and job.answered == 3
    listed, after = openai.parse_batch_list(
        respond(200, {"data": [batch], "has_more": True})
    )
    assert [j.name for j in listed] == ["batch_1"] and after == "batch_1"
    completion = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    ok = openai.parse_batch_line(
        json.dumps(
            {
                "id": "r",
                "custom_id": "row-1",
                "response": {"status_code": 200, "body": completion},
                "error": None,
            }
        ).encode()
    )
    reply = openai.parse_batch_reply(ok, prompt())
    assert reply.text == "Hi." and reply.usage.input_tokens == 4
    failed = openai.parse_batch_line(
        json.dumps(
            {
                "custom_id": "row-2",
                "response": {
                    "status_code": 400,
                    "body": {"error": {"message": "bad", "code": "invalid_value"}},
                },
                "error": None,
            }
        ).encode()
    )
    with pytest.raises(RequestRejected) as caught:
        openai.parse_batch_reply(failed, prompt())
    assert caught.value.code == "invalid_value"
