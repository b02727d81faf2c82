"""The OpenAPI 3 description of the JSON API."""

from . import __version__
from .answers import MAX_COMMENT

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_document(base_url):
    answer = {
        "type": "object",
        "required": ["id", "unit"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "Client-generated UUID; the idempotency key."},
            "unit": {"type": "string", "minLength": 1, "maxLength": 16, "description": "The unit's public code."},
            "score": {
                "type": ["integer", "null"], "minimum": 0, "maximum": 10,
                "description": "On the unit's scale: smiley5 1-5, smiley4 1-4, nps 0-10.",
            },
            "reason": {"type": "string", "description": "A reason key configured for the unit."},
            "comment": {"type": "string", "maxLength": MAX_COMMENT},
            "segment": {"type": "object", "additionalProperties": {"type": "string"}},
            "lang": {"type": "string", "enum": ["fi", "sv", "en"]},
            "answered_at": {
                "type": "string", "format": "date-time",
                "description": "Client clock, with a zone; at most 10 minutes ahead and 60 days behind.",
            },
        },
    }
    stored = {
        "type": "object",
        "required": ["id", "status"],
        "properties": {"id": {"type": "string"}, "status": {"type": "string", "enum": ["stored", "duplicate"]}},
    }
    json_of = lambda ref: {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hymy API", "version": __version__},
        "servers": [{"url": base_url}],
        "paths": {
            "/api/v1/responses": {
                "post": {
                    "summary": "Store one answer exactly once",
                    "security": [{}, {"device": []}],
                    "requestBody": {"required": True, "content": json_of("Answer")},
                    "responses": {
                        "201": {"description": "Stored", "content": json_of("Stored")},
                        "200": {"description": "The same answer again: nothing new stored", "content": json_of("Stored")},
                        "400": _error("Malformed JSON"),
                        "401": _error("Unknown or revoked device token"),
                        "403": _error("The device belongs to another unit"),
                        "404": _error("Unknown unit"),
                        "409": _error("The id is stored with other content"),
                        "413": _error("Body too large"),
                        "415": _error("Not application/json"),
                        "422": _error("Invalid field"),
                        "429": _error("Rate limit"),
                    },
                }
            },
            "/api/v1/devices/enrol": {
                "post": {
                    "summary": "Exchange a one-time enrolment code for a device token",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}},
                        }}},
                    },
                    "responses": {
                        "201": {"description": "Enrolled", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["token", "unit"],
                            "properties": {"token": {"type": "string"}, "unit": {"type": "string"}},
                        }}}},
                        "400": _error("Malformed JSON"),
                        "401": _error("Used, expired or unknown code"),
                        "413": _error("Body too large"),
                        "415": _error("Not application/json"),
                        "422": _error("Invalid field"),
                    },
                }
            },
        },
        "components": {
            "schemas": {"Answer": answer, "Stored": stored, "Error": ERROR},
            "securitySchemes": {"device": {"type": "http", "scheme": "bearer"}},
        },
    }
