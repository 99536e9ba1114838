"""schemathesis fuzzes every operation of the served OpenAPI document.

Each operation gets generated requests, valid and invalid, with a real API key,
then schemathesis' coverage cases (the boundaries of every constraint: lengths,
patterns, ranges, formats, missing and extra members, each valid and invalid);
every response must pass every check schemathesis has (``CHECKS``: not only "no
5xx" but status, content type, headers and body as /api/openapi.json documents
them, invalid requests refused, valid ones accepted). The stateful run chains
operations through the links schemathesis infers from the document (create, then
read, update, delete), so requests reach real rows, not only 404s, and adds the
stateful checks (a deleted resource stays gone, a created one is there).
PostgreSQL only: it is the production database. Every run is bounded (examples
per operation, steps per sequence): about 2 minutes in all.

schemathesis' own pytest integration doesn't run on pytest 9 (it reads a node
attribute pytest removed), so each operation is a plain test here that draws
cases from schemathesis' hypothesis strategies and coverage generator, as its
CLI's fuzzing and coverage phases do.
"""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import is_check_class, load_all_checks
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from app import create_app

pytestmark = pytest.mark.postgres

MAX_EXAMPLES = 40
STATEFUL_SCENARIOS = 80
SPEC_PATH = "/api/openapi.json"

# A request the document calls valid may still be refused (400) for what a JSON
# schema can't say: rows that don't exist for this company, a cursor we never
# issued, a time in the future, or a rule across fields or rows. Any other 400
# to a schema-valid request means the document and the validation disagree.
REFUSALS_THE_SCHEMA_CANNOT_STATE = [
    r"Unknown [a-z ]+\.",
    r"Not a valid cursor\.",
    r"Must not be in the future\.",
    # a date-time whose UTC form leaves the calendar (0001-01-01T00:00:00+01:01 is in
    # year 0): RFC 3339 allows it, Python's datetime (and the API) cannot hold it
    r"Out of range\.",
    r"Must differ from from_warehouse_id\.",
    r"Each warehouse may appear at most once\.",
    r"A bundle holds no stock of its own; stock its components instead\.",
    r"Too many bundles: .*",
    # purchase orders: lines must match the supplier's catalogue and the order
    r"Listed twice: one line per product\.",
    r"Product \d+ is a bundle: .*",
    r"Supplier \d+ does not supply product \d+: .*",
    r"Product \d+ is not on purchase order \d+\.",
    r"Must not be before the order was placed \(ordered_at\)\.",
    r"Must be within 10 years from now\.",
    # alert acknowledgements: until is ahead of now, and at most a year ahead
    r"Must be in the future\.",
    r"Must be within 366 days from now\.",
    # "format: email" is RFC 5321 syntax, which allows "0@0.a"; we refuse an address
    # no mail reaches (the domain needs a top-level domain of 2+ characters, as
    # marshmallow's Email checks; the document's description says so). Saying it as
    # a second pattern beside the text pattern would need an allOf that makes
    # generated addresses rare.
    r"Not a valid email address\.",
    r"Bundles cannot be adjusted\.",
    r"A bundle cannot contain itself\.",  # a component that is the path's own product
    r"Also in products\.[0-9]+\.",  # a SKU twice in one import
    r"Fixed at creation; this product's differs\.",  # is_bundle of an existing SKU
    # webhook URLs: a port in range and a host, which the pattern leaves to app.events.urls
    r"Has an invalid port\.",
    r"Must name a host\.",
    r"Not a valid URL\.",
]


def schema_valid_requests_are_refused_only_for_what_no_schema_can_state(ctx, response, case):
    """Replaces schemathesis' positive_data_acceptance with the list above."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 400:
        return None
    messages = [m for field in response.json().get("errors", {}).values() for m in field]
    unexplained = [
        m for m in messages if not any(re.fullmatch(p, m) for p in REFUSALS_THE_SCHEMA_CANNOT_STATE)
    ]
    assert messages and not unexplained, (
        f"a request valid by the OpenAPI document was refused: {response.json()}"
    )
    return None


def _operation_labels() -> list[str]:
    """Every operation of the document (the document needs no database)."""
    spec_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    schema = schemathesis.openapi.from_wsgi(SPEC_PATH, spec_app)
    return [result.ok().label for result in schema.get_all_operations()]


def _configured(schema):
    """The settings every run shares."""
    # unknown query parameters are ignored on purpose (cache busters, newer
    # clients), so requests that add some are not "invalid"
    schema.config.generation.update(allow_extra_parameters=False)
    # an invalid request whose URL passes 4096 bytes (many repeated query
    # parameters) is refused with a 414 before it is read: a refusal too
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "414"]
    return schema


@pytest.fixture
def api_schema(app):
    return _configured(schemathesis.openapi.from_wsgi(SPEC_PATH, app))


# Generating a match of the text pattern hundreds of characters long takes hypothesis
# a minute or more, so the coverage cases leave out the upper bound of texts longer than a
# name (notes, e-mail addresses); test_bad_input.py sends those at their maximum.
LONGEST_COVERED_TEXT = 255


def _without_long_text_bounds(node):
    """The document with ``maxLength`` dropped where it passes LONGEST_COVERED_TEXT."""
    if isinstance(node, dict):
        node = {key: _without_long_text_bounds(value) for key, value in node.items()}
        if node.get("maxLength", 0) > LONGEST_COVERED_TEXT:
            del node["maxLength"]
        return node
    if isinstance(node, list):
        return [_without_long_text_bounds(item) for item in node]
    return node


@pytest.fixture
def coverage_schema(app):
    document = app.test_client().get(SPEC_PATH).json
    schema = schemathesis.openapi.from_dict(_without_long_text_bounds(document))
    schema.app, schema.location = app, SPEC_PATH
    return _configured(schema)


load_all_checks()
# every check schemathesis has (its CLI's --checks all), named so that a change of
# its defaults cannot quietly drop one; positive_data_acceptance is replaced by the
# stricter check above (any refusal of a valid request must be one it explains)
CHECKS = [
    check
    for check in REGISTERED_CHECKS.get_all()
    if not is_check_class(check) and check is not positive_data_acceptance
] + [schema_valid_requests_are_refused_only_for_what_no_schema_can_state]


def _call_and_validate(case, tenant):
    case.call_and_validate(headers=tenant.headers, checks=CHECKS)


def test_every_check_schemathesis_has_runs():
    names = {check.__name__ for check in CHECKS}
    assert {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "schema_valid_requests_are_refused_only_for_what_no_schema_can_state",
    } <= names
    assert "positive_data_acceptance" not in names


@pytest.mark.parametrize("label", _operation_labels())
def test_every_operation_answers_as_documented(api_schema, company, label):
    operation = api_schema.find_operation_by_label(label)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        _call_and_validate(case, company)

    check()


@pytest.mark.parametrize("label", _operation_labels())
def test_every_operation_answers_its_boundary_cases_as_documented(coverage_schema, company, label):
    """schemathesis' coverage phase: each constraint at and past its bounds. Every
    failing case of the operation is reported, not only the first."""
    operation = coverage_schema.find_operation_by_label(label)
    cases = CoverageGenerator(
        operation=operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=coverage_schema.config.generation_for(
            operation=operation, phase="coverage"
        ),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    failures = []
    for case in cases:
        try:
            _call_and_validate(case, company)
        except (AssertionError, BaseExceptionGroup) as failure:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} {case.body!r}\n{failure}"
            )
    assert not failures, "\n\n".join(failures)


def test_sequences_of_operations_answer_as_documented(api_schema, make_company):
    """Create, read, update and delete chained through the document's links; each
    sequence as a new company (a sequence may well revoke its own key)."""

    class Workflow(api_schema.as_state_machine()):
        def setup(self):
            self.tenant = make_company()

        def get_call_kwargs(self, case):
            return {"headers": self.tenant.headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # every step carries the company's key (the route-security tests
            # check requests without one), so "generated auth was ignored" is moot
            case.validate_response(
                response,
                checks=[check for check in CHECKS if check is not ignored_auth],
                transport_kwargs=kwargs,
            )

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
