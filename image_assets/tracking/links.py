"""Links to MLflow runs, safe to print: credentials never leave a tracking URI."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# Where `make mlflow` serves the UI for the embedded SQLite tracking store.
LOCAL_UI = "http://127.0.0.1:5000"


def redact_uri(uri: str) -> str:
    """`uri` without user name, password or query string (tokens travel there too); other text is returned as is."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URI>"
    if not parts.scheme or not (parts.netloc or parts.query):
        return uri
    netloc = f"{host}{port}" if parts.netloc else ""
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page: on the tracking server when it is HTTP(S), else on the UI `make mlflow` starts."""
    base = redact_uri(tracking_uri) if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI
    base = base.replace("***@", "")
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
