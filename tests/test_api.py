"""API conventions: auth, one error shape, pagination, slashes, schema; templates and opt-outs."""

import pytest
from rest_framework.authtoken.models import Token

from conversations.models import OptOut

from .factories import DltTemplateFactory, MessageFactory, OptOutFactory

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "name": "OTP",
    "template_id": "1107161234567890123",
    "entity_id": "1101234567890123456",
    "sender_id": "EXOTEL",
    "body": "Your verification code is {#var#}.",
    "sms_type": "transactional",
    "active": True,
}


def test_api_refuses_anonymous_requests_with_the_error_shape(api_client):
    response = api_client.get("/api/templates")
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response.json()["code"] == "not_authenticated"


def test_api_accepts_a_token(api_client, staff_user):
    token = Token.objects.create(user=staff_user)
    response = api_client.get("/api/templates", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_api_refuses_a_wrong_token(api_client, staff_user):
    Token.objects.create(user=staff_user)
    response = api_client.get("/api/templates", HTTP_AUTHORIZATION="Token not-the-right-one")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/templates", "/api/templates/"])
def test_paths_work_with_and_without_a_trailing_slash(staff_api, path):
    assert staff_api.get(path).status_code == 200


def test_lists_are_paginated(staff_api):
    DltTemplateFactory.create_batch(3)
    body = staff_api.get("/api/templates?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_staff_creates_a_template(staff_api):
    response = staff_api.post("/api/templates", TEMPLATE, format="json")
    assert response.status_code == 201
    assert response.json()["template_id"] == TEMPLATE["template_id"]


def test_agents_read_templates_but_cannot_create_them(agent_api):
    assert agent_api.get("/api/templates").status_code == 200
    response = agent_api.post("/api/templates", TEMPLATE, format="json")
    assert response.status_code == 403
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"sms_type": "otp"}, "sms_type"),
        ({"body": "x" * 2001}, "body"),
        ({"active": "maybe"}, "active"),
        ({"template_id": ["1", "2"]}, "template_id"),
    ],
)
def test_bad_template_input_gets_a_message_per_field(staff_api, change, field):
    response = staff_api.post("/api/templates", {**TEMPLATE, **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert field in body["fields"]
    assert body["error"].startswith(f"{field}: ")


def test_malformed_json_is_a_400_not_a_500(staff_api):
    response = staff_api.generic(
        "POST", "/api/templates", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_deleting_a_template_with_messages_is_a_409(staff_api):
    template = DltTemplateFactory()
    MessageFactory(template=template)
    response = staff_api.delete(f"/api/templates/{template.pk}")
    assert response.status_code == 409
    assert "active to false" in response.json()["error"]


def test_unknown_template_is_a_404_with_the_error_shape(staff_api):
    response = staff_api.get("/api/templates/999999")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_opt_out_through_the_api_normalises_the_number(staff_api):
    response = staff_api.post("/api/optouts", {"phone_number": "098765 43210"}, format="json")
    assert response.status_code == 201
    assert response.json()["phone_number"] == "+919876543210"
    assert OptOut.objects.get().source == "api"


@pytest.mark.parametrize(
    "phone", ["+919876543210", "%2B919876543210", "919876543210", "9876543210"]
)
def test_opt_out_is_found_by_any_number_format(staff_api, phone):
    OptOutFactory(phone_number="+919876543210")
    response = staff_api.get(f"/api/optouts/{phone}")
    assert response.status_code == 200
    assert response.json()["phone_number"] == "+919876543210"


def test_delete_opts_back_in_and_keeps_history(staff_api):
    OptOutFactory(phone_number="+919876543210")
    assert staff_api.delete("/api/optouts/9876543210").status_code == 204
    assert staff_api.get("/api/optouts/9876543210").status_code == 404
    assert OptOut.objects.filter(phone_number="+919876543210").count() == 1


def test_opt_out_of_a_junk_number_is_refused(staff_api):
    response = staff_api.post("/api/optouts", {"phone_number": "'; DROP TABLE x;--"}, format="json")
    assert response.status_code == 400
    assert "phone_number" in response.json()["fields"]
    assert not OptOut.objects.exists()


def test_schema_is_served_as_openapi(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/templates" in "".join(schema["paths"])


def test_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()
