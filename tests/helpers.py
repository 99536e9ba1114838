"""Assertions the test modules share."""


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
