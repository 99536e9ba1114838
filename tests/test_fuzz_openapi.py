"""schemathesis fuzzes every operation of the served OpenAPI document.

Each operation gets generated requests, valid and invalid, with a real API key;
every response must be a non-5xx whose status, content type, headers and body
match what /api/openapi.json documents, and an invalid request must be refused.
The stateful run chains operations through the links schemathesis infers from
the document (create, then read, update, delete), so requests reach real rows,
not only 404s. PostgreSQL only: it is the production database. Both runs are
bounded (examples per operation, steps per sequence) to stay within minutes.

schemathesis' own pytest integration doesn't run on pytest 9 (it reads a node
attribute pytest removed), so each operation is a plain test here that draws
cases from schemathesis' hypothesis strategies.
"""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from app import create_app

pytestmark = pytest.mark.postgres

MAX_EXAMPLES = 25
STATEFUL_SCENARIOS = 40
SPEC_PATH = "/api/openapi.json"

# A request the document calls valid may still be refused (400) for what a JSON
# schema can't say: rows that don't exist for this company, a cursor we never
# issued, a time in the future, or a rule across fields or rows. Any other 400
# to a schema-valid request means the document and the validation disagree.
REFUSALS_THE_SCHEMA_CANNOT_STATE = [
    r"Unknown [a-z ]+\.",
    r"Not a valid cursor\.",
    r"Must not be in the future\.",
    r"Must differ from from_warehouse_id\.",
    r"Each warehouse may appear at most once\.",
    r"A bundle holds no stock of its own; stock its components instead\.",
    r"Too many bundles: .*",
    r"Bundles cannot be adjusted\.",
    r"Also in products\.[0-9]+\.",  # a SKU twice in one import
    r"Fixed at creation; this product's differs\.",  # is_bundle of an existing SKU
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


@pytest.fixture
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi(SPEC_PATH, app)
    # unknown query parameters are ignored on purpose (cache busters, newer
    # clients), so requests that add some are not "invalid"
    schema.config.generation.update(allow_extra_parameters=False)
    return schema


EXCLUDED_CHECKS = [positive_data_acceptance]
ADDITIONAL_CHECKS = [schema_valid_requests_are_refused_only_for_what_no_schema_can_state]


def _call_and_validate(case, tenant):
    case.call_and_validate(
        headers=tenant.headers,
        excluded_checks=EXCLUDED_CHECKS,
        additional_checks=ADDITIONAL_CHECKS,
    )


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
                excluded_checks=[*EXCLUDED_CHECKS, ignored_auth],
                additional_checks=ADDITIONAL_CHECKS,
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
