"""Flows for tests: broken ones for the registry's bad-input tests, and model steps that fail or call HTTP."""

from workflows.examples.loan_approval import DEFAULT_POLICY
from workflows.flows import Flow, ModelStep

_POLICY = {"queue": "test-desk", "default_route": "review"}


def always_fails(inputs: dict) -> dict:
    raise RuntimeError("model server unavailable")


UNKNOWN_QUEUE = Flow(
    name="unknown_queue",
    title="Unknown queue",
    default_policy={**_POLICY, "queue": "nowhere"},
    queues=(("test-desk", "Test desk"),),
)
BAD_SCHEMA = Flow(
    name="bad_schema",
    title="Bad schema",
    default_policy=_POLICY,
    queues=(("test-desk", "Test desk"),),
    input_schema="tests.support.no_such_module.Payload",
)
DUPLICATE = Flow(name="loan_approval", title="A second loan flow", default_policy=DEFAULT_POLICY)
NO_MODEL_TARGET = Flow(
    name="no_model_target",
    title="Model step without a target",
    default_policy=_POLICY,
    queues=(("test-desk", "Test desk"),),
    model=ModelStep(name="nothing"),
)
FAILING_MODEL = Flow(
    name="failing_model",
    title="A model that always fails",
    default_policy={
        **_POLICY,
        "gates": [{"name": "c", "type": "confidence", "when": {"at_least": 0.0}, "route": "auto_approve"}],
    },
    queues=(("test-desk", "Test desk"),),
    model=ModelStep(name="flaky", function=always_fails, max_attempts=2, timeout_seconds=2),
)
# The endpoint's port is set by the test that serves it (see test_model_step_calls_an_http_endpoint).
HTTP_MODEL = Flow(
    name="http_model",
    title="A model behind HTTP",
    default_policy={
        **_POLICY,
        "gates": [{"name": "c", "type": "confidence", "when": {"at_least": 0.9}, "route": "auto_approve"}],
    },
    queues=(("test-desk", "Test desk"),),
    model=ModelStep(name="remote", endpoint="http://127.0.0.1:1/score", timeout_seconds=3),
)
