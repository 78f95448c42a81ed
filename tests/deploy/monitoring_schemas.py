"""JSON schemas of the prometheus-operator kinds deploy/k8s/monitoring/ uses
(monitoring.coreos.com/v1 PrometheusRule, ServiceMonitor, PodMonitor), written from the
operator's API reference (v0.82): the Kubernetes schemas `kubernetes-validate` pins do not
include custom resources, so these stand in, as the KEDA one does in test_kubernetes.py.

They cover the fields a Reelsmith manifest may reasonably use, with the operator's types
and patterns, and refuse every other field (`additionalProperties: false`): a misspelt
field fails here instead of being pruned silently by the API server. A field the operator
has and these lack is added here when a manifest needs it."""

from __future__ import annotations

from typing import Any

import jsonschema

API_VERSION = "monitoring.coreos.com/v1"
# Prometheus durations as the operator's CRDs constrain them ("30s", "1h30m", "0").
DURATION = {
    "type": "string",
    "pattern": "^(0|"
    + "".join(rf"(([0-9]+){unit})?" for unit in ("y", "w", "d", "h", "m", "s", "ms"))
    + ")$",
}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
NAME = {"type": "string", "minLength": 1}

METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": NAME,
        "namespace": NAME,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}

LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "additionalProperties": False,
                "properties": {
                    "key": NAME,
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

NAMESPACE_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "any": {"type": "boolean"},
        "matchNames": {"type": "array", "items": {"type": "string"}},
    },
}

RELABEL_ACTIONS = [
    "replace",
    "keep",
    "drop",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
    "keepequal",
    "dropequal",
]
RELABELINGS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "sourceLabels": {"type": "array", "items": {"type": "string"}},
            "separator": {"type": "string"},
            "targetLabel": {"type": "string"},
            "regex": {"type": "string"},
            "modulus": {"type": "integer"},
            "replacement": {"type": "string"},
            "action": {"enum": RELABEL_ACTIONS + [a.capitalize() for a in RELABEL_ACTIONS]},
        },
    },
}

# What a ServiceMonitor endpoint and a PodMonitor endpoint share.
ENDPOINT_FIELDS: dict[str, Any] = {
    "path": {"type": "string"},
    "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
    "params": {"type": "object", "additionalProperties": {"type": "array"}},
    "interval": DURATION,
    "scrapeTimeout": DURATION,
    "honorLabels": {"type": "boolean"},
    "honorTimestamps": {"type": "boolean"},
    "followRedirects": {"type": "boolean"},
    "enableHttp2": {"type": "boolean"},
    "relabelings": RELABELINGS,
    "metricRelabelings": RELABELINGS,
}

MONITOR_FIELDS: dict[str, Any] = {
    "jobLabel": {"type": "string"},
    "podTargetLabels": {"type": "array", "items": {"type": "string"}},
    "selector": LABEL_SELECTOR,
    "namespaceSelector": NAMESPACE_SELECTOR,
    "sampleLimit": {"type": "integer", "minimum": 0},
    "targetLimit": {"type": "integer", "minimum": 0},
    "scrapeClass": NAME,
}


def _resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


SERVICE_MONITOR = _resource(
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector"],
        "additionalProperties": False,
        "properties": {
            **MONITOR_FIELDS,
            "targetLabels": {"type": "array", "items": {"type": "string"}},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        # The Service port's name (targetPort: a pod port, discouraged).
                        "port": {"type": "string"},
                        "targetPort": {"type": ["integer", "string"]},
                        **ENDPOINT_FIELDS,
                    },
                },
            },
        },
    },
)

POD_MONITOR = _resource(
    "PodMonitor",
    {
        "type": "object",
        "required": ["selector"],
        "additionalProperties": False,
        "properties": {
            **MONITOR_FIELDS,
            "podMetricsEndpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        # The container port's name, or its number.
                        "port": {"type": "string"},
                        "portNumber": {"type": "integer", "minimum": 1, "maximum": 65535},
                        **ENDPOINT_FIELDS,
                    },
                },
            },
        },
    },
)

RULE: dict[str, Any] = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    # Exactly one of `alert` and `record`.
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "properties": {
        "alert": NAME,
        "record": NAME,
        "expr": {"type": ["string", "integer"]},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}

PROMETHEUS_RULE = _resource(
    "PrometheusRule",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": NAME,
                        "interval": DURATION,
                        "query_offset": DURATION,
                        "limit": {"type": "integer"},
                        "labels": STRING_MAP,
                        "partial_response_strategy": {"type": "string"},
                        "rules": {"type": "array", "items": RULE},
                    },
                },
            },
        },
    },
)

SCHEMAS = {
    "PrometheusRule": PROMETHEUS_RULE,
    "ServiceMonitor": SERVICE_MONITOR,
    "PodMonitor": POD_MONITOR,
}


def validate_monitoring(resource: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `resource` is one of the three kinds,
    well formed."""
    kind = resource.get("kind")
    if kind not in SCHEMAS:
        raise jsonschema.ValidationError(f"{API_VERSION} kind {kind!r} has no schema here")
    jsonschema.validate(resource, SCHEMAS[kind])
