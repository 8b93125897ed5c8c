"""The registry of flows, loaded from the dotted paths in settings.HANDRAIL_FLOWS."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from workflows.flows import Flow


class FlowConfigError(RuntimeError):
    pass


@cache
def flows() -> dict[str, Flow]:
    """Every registered flow by name. A bad entry fails loudly, naming the entry."""
    found: dict[str, Flow] = {}
    for path in settings.HANDRAIL_FLOWS:
        try:
            flow = import_string(path)
        except ImportError as exc:
            raise FlowConfigError(f"HANDRAIL_FLOWS entry {path!r} does not import: {exc}") from exc
        if not isinstance(flow, Flow):
            raise FlowConfigError(f"HANDRAIL_FLOWS entry {path!r} is not a workflows.flows.Flow")
        if flow.name in found:
            raise FlowConfigError(f"flow name {flow.name!r} is registered twice (second: {path!r})")
        found[flow.name] = flow
    return found


def flow_get(name: str) -> Flow | None:
    return flows().get(name)
