"""Assertions and process helpers the test modules share."""

import socket
import subprocess


def assert_problem(response, status, *fields, slug=None):
    """The response is a problem+json with ``status`` naming exactly ``fields`` (if given)
    and, if given, of problem type ``slug``."""
    assert response.status_code == status, response.json
    assert response.content_type == "application/problem+json"
    body = response.json
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    if fields:
        assert sorted(body["errors"]) == sorted(fields), body["errors"]
    if slug:
        assert body["type"] == f"urn:stockflow:problem:{slug}"
    return body


def post_ok(client, tenant, path, body, status=201):
    """POST ``body`` as ``tenant``, asserting ``status``; the answer's JSON."""
    response = client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == status, (path, response.json)
    return response.json


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM a child (a gunicorn the test started), SIGKILL it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
