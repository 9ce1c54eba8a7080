"""Small lookups in a synthesized template, shared by the CDK tests."""

from __future__ import annotations

from typing import Any

from kilowatch_cdk.stack import KilowatchStack


def resources_of(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one CloudFormation type."""
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == resource_type}


def logical_id(stack: KilowatchStack, construct: Any) -> str:
    """The logical id of a construct's CloudFormation resource."""
    child = construct.node.default_child or construct
    return str(stack.resolve(stack.get_logical_id(child)))
