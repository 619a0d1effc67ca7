"""The OpenAPI 3.1 document served at /openapi.json, built from the pydantic models it describes."""

from __future__ import annotations

import copy
from typing import Any

from hyperdash_pipeline.webhook.models import LeadIn

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "problem"],
                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                    },
                },
            },
        }
    },
}
_QUEUED = {
    "type": "object",
    "required": ["accepted", "queued"],
    "properties": {"accepted": {"type": "boolean"}, "queued": {"type": "boolean"}},
}
_ACCEPTED = {
    "type": "object",
    "required": ["lead_id", "created"],
    "properties": {"lead_id": {"type": "string", "format": "uuid"}, "created": {"type": "boolean"}},
}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _header(name: str, description: str, required: bool, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _schemas() -> dict[str, Any]:
    lead = LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = lead.pop("$defs", {})
    form = copy.deepcopy(lead)
    form["title"] = "LeadForm"
    form["properties"]["touchpoints"] = {"type": "string", "description": "a JSON array of touchpoints"}
    return {**defs, "Lead": lead, "LeadForm": form, "Accepted": _ACCEPTED, "Queued": _QUEUED, "Error": _ERROR}


def openapi_document() -> dict[str, Any]:
    errors = {
        "400": _json("#/components/schemas/Error", "malformed body (not JSON / form, invalid UTF-8) or header"),
        "401": _json("#/components/schemas/Error", "missing, stale or wrong signature, or unknown organization"),
        "408": _json("#/components/schemas/Error", "the body did not arrive within the body timeout"),
        "409": _json("#/components/schemas/Error", "this exact signed request was already received (replay)"),
        "413": _json("#/components/schemas/Error", "body over the size cap"),
        "415": _json("#/components/schemas/Error", "content type is neither JSON nor form-encoded"),
        "422": _json("#/components/schemas/Error", "invalid fields, or an Idempotency-Key reused for another body"),
        "429": _json("#/components/schemas/Error", "rate limited (per organization or client); see Retry-After"),
        "500": _json(
            "#/components/schemas/Error", "the CRM refused the write for a reason of its own; see Retry-After"
        ),
        "503": _json("#/components/schemas/Error", "neither the CRM nor the spool can take the lead; see Retry-After"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HyperDash lead capture webhook",
            "version": "1",
            "description": "Signed landing-page posts written into the CRM. See docs/webhook.md.",
        },
        "paths": {
            "/webhooks/leads": {
                "post": {
                    "operationId": "postLead",
                    "summary": "Create a lead (and its contact) in the CRM",
                    "parameters": [
                        _header("X-Hyperdash-Timestamp", "Unix time, seconds", True, {"type": "string"}),
                        _header(
                            "X-Hyperdash-Signature",
                            'hex HMAC-SHA256 of f"{timestamp}.{raw_body}" with the organization secret',
                            True,
                            {"type": "string"},
                        ),
                        _header(
                            "Idempotency-Key",
                            "the same key and body again returns the same lead (default: the body's SHA-256)",
                            False,
                            {"type": "string", "minLength": 1, "maxLength": 255},
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Lead"}},
                            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/LeadForm"}},
                        },
                    },
                    "responses": {
                        "201": _json("#/components/schemas/Accepted", "lead created"),
                        "200": _json("#/components/schemas/Accepted", "repeat of an earlier post: the same lead"),
                        "202": _json(
                            "#/components/schemas/Queued",
                            "the CRM is away: the lead is kept on disk and written into the CRM when it returns",
                        ),
                        **errors,
                    },
                }
            },
            "/healthz": {"get": {"operationId": "health", "responses": {"200": {"description": "process alive"}}}},
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "responses": {
                        "200": {"description": "the CRM answers"},
                        "503": _json("#/components/schemas/Error", "the CRM does not answer"),
                    },
                }
            },
        },
        "components": {"schemas": _schemas()},
    }
