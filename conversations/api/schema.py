"""OpenAPI postprocessing: every operation documents the 4xx answers it can give, in the one
error shape of `conversations.api.errors`, in one place instead of on every view."""

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {"type": "string", "description": "One sentence for a person."},
        "code": {"type": "string", "description": "A machine-readable code."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Per-field messages (400 only).",
        },
    },
    "required": ["success", "error", "code"],
}
ERRORS = {
    "400": "Invalid input: `fields` names each problem.",
    "401": "No credentials, or a wrong token.",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object.",
    "405": "This method is not allowed here.",
    "406": "The Accept header asks for a format the API cannot give.",
    "415": "The request body's Content-Type is not JSON, a form or multipart.",
    "429": "Too many requests.",
}
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: add each 4xx an operation lacks."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
