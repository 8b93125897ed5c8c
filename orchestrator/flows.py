"""The registry of flows, loaded from the dotted paths in settings.HANDRAIL_FLOWS, validated on load.

The worker loads it before it polls (`manage.py worker`), so a bad flow stops the start with an
error that names the flow and the field: an entry or a schema that does not import, a duplicate
name, a default policy that does not compile or names a queue no registered flow declares, a model
step without a callable or endpoint, a workflow class that is not a Temporal workflow.
"""

import dataclasses
from collections.abc import Iterable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from workflows.flows import Flow, ModelStep


class FlowConfigError(RuntimeError):
    """A flow that cannot run. The message names the flow (or settings entry) and the field."""

    def __init__(self, message: str, *, flow: str = "", field: str = "") -> None:
        super().__init__(message)
        self.flow = flow
        self.field = field


def _resolve(flow: Flow, field: str, value: Any) -> Any:
    """Import `value` when it is a dotted path; return it unchanged otherwise."""
    if not isinstance(value, str) or not value:
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise FlowConfigError(
            f"flow {flow.name!r}: {field} {value!r} does not import: {exc}", flow=flow.name, field=field
        ) from exc


def _check_schema(flow: Flow, field: str) -> Any:
    schema = _resolve(flow, field, getattr(flow, field))
    if schema is None:
        return None
    from pydantic import BaseModel

    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise FlowConfigError(
            f"flow {flow.name!r}: {field} must be a pydantic model class, not {schema!r}", flow=flow.name, field=field
        )
    return schema


def _check_model(flow: Flow, step: Any, where: str) -> ModelStep | None:
    if step is None:
        return None
    if not isinstance(step, ModelStep):
        raise FlowConfigError(
            f"flow {flow.name!r}: {where} must be a workflows.flows.ModelStep", flow=flow.name, field=where
        )
    if bool(step.function) == bool(step.endpoint):
        raise FlowConfigError(
            f"flow {flow.name!r}: {where} needs exactly one of function and endpoint", flow=flow.name, field=where
        )
    function = _resolve(flow, f"{where}.function", step.function)
    if step.function and not callable(function):
        raise FlowConfigError(
            f"flow {flow.name!r}: {where}.function is not callable", flow=flow.name, field=f"{where}.function"
        )
    if step.endpoint and not step.endpoint.startswith(("http://", "https://")):
        raise FlowConfigError(
            f"flow {flow.name!r}: {where}.endpoint must be an http(s) URL", flow=flow.name, field=f"{where}.endpoint"
        )
    if step.timeout_seconds <= 0 or step.max_attempts < 1:
        raise FlowConfigError(
            f"flow {flow.name!r}: {where} needs timeout_seconds > 0 and max_attempts >= 1", flow=flow.name, field=where
        )
    return dataclasses.replace(step, function=function)


def _check_workflow(flow: Flow) -> Any:
    cls = _resolve(flow, "workflow", flow.workflow)
    if cls is None:
        return None
    from temporalio import workflow

    try:
        workflow._Definition.must_from_class(cls)
    except (TypeError, ValueError) as exc:
        raise FlowConfigError(
            f"flow {flow.name!r}: workflow {cls!r} is not a @workflow.defn class", flow=flow.name, field="workflow"
        ) from exc
    return cls


def _check_policy(flow: Flow, queues: set[str]) -> None:
    from orchestrator.gates.spec import PolicySpecError, parse_spec

    try:
        parse_spec(flow.default_policy, queues=queues, custom_gates=flow.custom_gates)
    except PolicySpecError as exc:
        where = f"default_policy.{exc.field}"
        raise FlowConfigError(f"flow {flow.name!r}: {where}: {exc.reason}", flow=flow.name, field=where) from exc


def flow_validate(flow: Flow, *, queues: Iterable[str]) -> Flow:
    """Check one flow; return it with every dotted path imported. `queues`: the slugs flows declare."""
    if not flow.name or not flow.name.replace("_", "").replace("-", "").isalnum():
        raise FlowConfigError(f"flow {flow.name!r}: name must be letters, digits, - and _", flow=flow.name)
    for slug in flow.blind_queues:
        if slug not in {s for s, _ in flow.queues}:
            raise FlowConfigError(
                f"flow {flow.name!r}: blind_queues names {slug!r}, which is not in the flow's queues",
                flow=flow.name,
                field="blind_queues",
            )
    resolved = dataclasses.replace(
        flow,
        input_schema=_check_schema(flow, "input_schema"),
        output_schema=_check_schema(flow, "output_schema"),
        model=_check_model(flow, flow.model, "model"),
        model_steps={
            name: _check_model(flow, step, f"model_steps.{name}") or step for name, step in flow.model_steps.items()
        },
        workflow=_check_workflow(flow),
    )
    _check_policy(resolved, set(queues))
    return resolved


def flows_load(paths: Iterable[str]) -> dict[str, Flow]:
    """Import and validate the flows at `paths` (settings entries). Raises FlowConfigError on the first bad one."""
    loaded: list[tuple[str, Flow]] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            flow = import_string(path)
        except ImportError as exc:
            raise FlowConfigError(f"HANDRAIL_FLOWS entry {path!r} does not import: {exc}") from exc
        if not isinstance(flow, Flow):
            raise FlowConfigError(f"HANDRAIL_FLOWS entry {path!r} is not a workflows.flows.Flow")
        if flow.name in seen:
            raise FlowConfigError(
                f"flow {flow.name!r} is registered twice: {seen[flow.name]!r} and {path!r}",
                flow=flow.name,
                field="name",
            )
        seen[flow.name] = path
        loaded.append((path, flow))
    declared = {slug for _, flow in loaded for slug, _ in flow.queues}
    return {flow.name: flow_validate(flow, queues=declared) for _, flow in loaded}


@cache
def flows() -> dict[str, Flow]:
    """Every registered flow by name, validated, dotted paths imported. A bad entry fails loudly."""
    return flows_load(settings.HANDRAIL_FLOWS)


def flow_get(name: str) -> Flow | None:
    return flows().get(name)


def flow_workflows() -> list[type]:
    """The custom workflow classes the registered flows and HANDRAIL_WORKFLOWS name (for the worker)."""
    found: list[type] = []
    for flow in flows().values():
        if flow.workflow is not None and flow.workflow not in found:
            found.append(flow.workflow)
    for path in getattr(settings, "HANDRAIL_WORKFLOWS", ()):
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise FlowConfigError(f"HANDRAIL_WORKFLOWS entry {path!r} does not import: {exc}") from exc
        if cls not in found:
            found.append(cls)
    return found


def workflow_name_for(flow: Flow | None) -> str:
    """The Temporal workflow type that runs decisions of `flow`."""
    from workflows.contracts import DECISION_WORKFLOW

    if flow is None or flow.workflow is None:
        return DECISION_WORKFLOW
    from temporalio import workflow

    name = workflow._Definition.must_from_class(flow.workflow).name
    assert name is not None
    return name


def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("HANDRAIL_FLOWS", "HANDRAIL_WORKFLOWS"):
        flows.cache_clear()


setting_changed.connect(_reload_on_change)
