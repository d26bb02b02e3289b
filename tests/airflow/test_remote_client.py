"""The GraphQL client of remote mode against a scripted HTTP server: payloads, auth headers, errors, timeouts."""

from __future__ import annotations

import json
import logging

import pytest
from werkzeug import Request, Response

from airflow_bridge.contracts import AssetRun, DagsterRunFailed
from airflow_bridge.remote import MAX_EVENT_PAGES, RemoteDagsterError, RemoteExecutor, RemoteSettings

REQUEST = AssetRun("image_pipeline", ("raw_images",), "2026-11-26|local", {"airflow/run_id": "manual__1"})
SECRET = "s3cr3t-token"


class FakeDagster:
    """Answers launchRun / runOrError / logsForRun / terminateRun like a Dagster webserver would."""

    def __init__(self, statuses: list[str], launch: dict | None = None, events: list[dict] | None = None) -> None:
        self.statuses, self.launch, self.events = statuses, launch, events or []
        self.calls: list[dict] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_json()
        self.calls.append({"body": body, "headers": dict(request.headers)})
        query = body["query"]
        if "launchRun" in query:
            data = {"launchRun": self.launch or {"__typename": "LaunchRunSuccess", "run": {"runId": "r-1"}}}
        elif "runOrError" in query:
            data = {"runOrError": {"__typename": "Run", "status": self.statuses.pop(0)}}
        elif "logsForRun" in query:
            data = {
                "logsForRun": {"__typename": "EventConnection", "cursor": "c", "hasMore": False, "events": self.events}
            }
        else:
            data = {"terminateRun": {"__typename": "TerminateRunSuccess"}}
        return Response(json.dumps({"data": data}), content_type="application/json")

    def kinds(self) -> list[str]:
        return [call["body"]["query"].split("{")[1].split("(")[0].strip() for call in self.calls]


def executor(httpserver, fake: FakeDagster, **overrides) -> RemoteExecutor:
    httpserver.expect_request("/graphql", method="POST").respond_with_handler(fake)
    env = {
        "IMGPIPE_DAGSTER_URL": httpserver.url_for("/"),
        "IMGPIPE_DAGSTER_POLL_S": "0",
        "IMGPIPE_DAGSTER_HEADERS": json.dumps({"Authorization": f"Bearer {SECRET}"}),
        "IMGPIPE_DAGSTER_ALLOW_HTTP": "1",  # the test server is plain http on loopback
    }
    return RemoteExecutor(RemoteSettings.from_env(env | overrides), sleep=lambda _: None)


def test_launches_polls_and_returns_the_run_id(httpserver, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeDagster(["QUEUED", "STARTED", "SUCCESS"])
    assert executor(httpserver, fake).run(REQUEST) == "r-1"
    assert fake.kinds() == ["launchRun", "runOrError", "runOrError", "runOrError"]
    params = fake.calls[0]["body"]["variables"]["executionParams"]
    assert params["selector"] == {
        "repositoryLocationName": "image_assets",
        "repositoryName": "__repository__",
        "jobName": "image_pipeline",
        "assetSelection": [{"path": ["raw_images"]}],
    }
    assert {"key": "airflow/run_id", "value": "manual__1"} in params["executionMetadata"]["tags"]
    assert all(call["headers"]["Authorization"] == f"Bearer {SECRET}" for call in fake.calls)
    assert SECRET not in caplog.text
    loopback = {"IMGPIPE_DAGSTER_HEADERS": json.dumps({"X": SECRET}), "IMGPIPE_DAGSTER_ALLOW_HTTP": "1"}
    assert SECRET not in repr(RemoteSettings.from_env(loopback))


def test_failed_run_raises_with_dagsters_error(httpserver) -> None:
    events = [
        {
            "__typename": "ExecutionStepFailureEvent",
            "message": "step failed",
            "stepKey": "raw_images",
            "error": {"message": "dagster._core.definitions.events.Failure: local source folder /x does not exist\n"},
        },
        {
            "__typename": "RunFailureEvent",
            "message": 'Execution of run for "image_pipeline" failed.',
            "stepKey": None,
            "error": None,
        },
        {"__typename": "LogMessageEvent", "message": "noise", "stepKey": None},
    ]
    fake = FakeDagster(["STARTED", "FAILURE"], events=events)
    with pytest.raises(DagsterRunFailed, match="local source folder /x does not exist") as info:
        executor(httpserver, fake).run(REQUEST)
    assert info.value.run_id == "r-1" and info.value.status == "FAILURE"
    assert info.value.errors == [
        "[raw_images] dagster._core.definitions.events.Failure: local source folder /x does not exist",
        'Execution of run for "image_pipeline" failed.',
    ]


def test_launch_errors_are_reported(httpserver) -> None:
    fake = FakeDagster([], launch={"__typename": "PipelineNotFoundError", "message": "Could not find job x"})
    with pytest.raises(DagsterRunFailed, match="Could not find job x"):
        executor(httpserver, fake).run(REQUEST)


def test_rejected_credentials_never_echo_the_token(httpserver) -> None:
    httpserver.expect_request("/graphql").respond_with_data("nope", status=401)
    env = {
        "IMGPIPE_DAGSTER_URL": httpserver.url_for("/"),
        "IMGPIPE_DAGSTER_HEADERS": json.dumps({"X-Token": SECRET}),
        "IMGPIPE_DAGSTER_ALLOW_HTTP": "1",
    }
    with pytest.raises(RemoteDagsterError, match="refused the credentials") as info:
        RemoteExecutor(RemoteSettings.from_env(env)).run(REQUEST)
    assert SECRET not in str(info.value)


def test_unreachable_deployment() -> None:
    settings = RemoteSettings(url="http://127.0.0.1:9", request_timeout_s=2)
    with pytest.raises(RemoteDagsterError, match="cannot reach Dagster"):
        RemoteExecutor(settings).run(REQUEST)


def test_run_timeout_terminates_the_dagster_run(httpserver) -> None:
    fake = FakeDagster(["STARTED"] * 5)
    remote = executor(httpserver, fake, IMGPIPE_DAGSTER_RUN_TIMEOUT_S="0")
    with pytest.raises(TimeoutError, match="still STARTED"):
        remote.run(REQUEST)
    assert fake.kinds()[-1] == "terminateRun"


def test_bad_headers_setting() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        RemoteSettings.from_env({"IMGPIPE_DAGSTER_HEADERS": "Bearer abc"})


# --- hostile or broken deployments ------------------------------------------------------------------------------


def test_auth_headers_never_follow_a_redirect_to_another_origin(httpserver) -> None:
    """A 307 to another host (here: another port) is refused; the other origin never sees the token."""
    from pytest_httpserver import HTTPServer

    other = HTTPServer(host="127.0.0.1", port=0)  # a second server on another port: another origin
    other.start()
    seen: list[dict] = []
    other.expect_request("/graphql").respond_with_handler(
        lambda request: seen.append(dict(request.headers)) or Response("{}", content_type="application/json")
    )
    httpserver.expect_request("/graphql").respond_with_response(
        Response(status=307, headers={"Location": other.url_for("/graphql")})
    )
    for token_header in ("Authorization", "Dagster-Cloud-Api-Token"):
        env = {
            "IMGPIPE_DAGSTER_URL": httpserver.url_for("/"),
            "IMGPIPE_DAGSTER_HEADERS": json.dumps({token_header: SECRET}),
            "IMGPIPE_DAGSTER_ALLOW_HTTP": "1",
        }
        with pytest.raises(RemoteDagsterError, match="redirect"):
            RemoteExecutor(RemoteSettings.from_env(env)).run(REQUEST)
    other.stop()
    assert seen == []


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("http://dagster.example:3000", "1", False),  # a token in the clear to another host: never
        ("http://127.0.0.1:3000", "", False),  # loopback, but not opted in
        ("http://127.0.0.1:3000", "1", True),
        ("https://dagster.example", "", True),
        ("ftp://dagster.example", "", False),
    ],
)
def test_a_token_needs_https_unless_loopback_is_opted_in(url: str, allow: str, ok: bool) -> None:
    env = {"IMGPIPE_DAGSTER_URL": url, "IMGPIPE_DAGSTER_HEADERS": json.dumps({"X-Token": SECRET}),
           "IMGPIPE_DAGSTER_ALLOW_HTTP": allow}  # fmt: skip
    if ok:
        assert RemoteSettings.from_env(env).url == url
    else:
        with pytest.raises(ValueError) as info:
            RemoteSettings.from_env(env)
        assert SECRET not in str(info.value)


def test_endless_pages_of_events_are_bounded(httpserver) -> None:
    calls = []

    def endless(request: Request) -> Response:
        calls.append(1)
        page = {"__typename": "EventConnection", "cursor": f"c{len(calls)}", "hasMore": True, "events": []}
        return Response(json.dumps({"data": {"logsForRun": page}}), content_type="application/json")

    httpserver.expect_request("/graphql").respond_with_handler(endless)
    settings = RemoteSettings.from_env({"IMGPIPE_DAGSTER_URL": httpserver.url_for("/")})
    assert RemoteExecutor(settings).errors("r-1") == []
    assert len(calls) == MAX_EVENT_PAGES


@pytest.mark.parametrize(
    "reply",
    [
        b"<html>gateway</html>",
        b"[]",
        b'{"data": null}',
        b'{"data": {"launchRun": "yes"}}',
        b'{"data": {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": 7}}}}',
        b'{"data": {"launchRun": {"__typename": 5}}}',
        b'{"errors": "boom"}',
        b'{"errors": [1, {"message": "bad"}]}',
    ],
)
def test_malformed_replies_are_remote_dagster_errors(httpserver, reply: bytes) -> None:
    httpserver.expect_request("/graphql").respond_with_data(reply, content_type="application/json")
    settings = RemoteSettings.from_env({"IMGPIPE_DAGSTER_URL": httpserver.url_for("/")})
    with pytest.raises(RemoteDagsterError):
        RemoteExecutor(settings).launch(REQUEST)


@pytest.mark.parametrize(
    "events",
    [{"not": "a list"}, None],
)
def test_malformed_event_pages_are_remote_dagster_errors(httpserver, events) -> None:
    page = {"__typename": "EventConnection", "cursor": "c", "hasMore": False, "events": events}
    httpserver.expect_request("/graphql").respond_with_json({"data": {"logsForRun": page}})
    settings = RemoteSettings.from_env({"IMGPIPE_DAGSTER_URL": httpserver.url_for("/")})
    with pytest.raises(RemoteDagsterError):
        RemoteExecutor(settings).errors("r-1")
