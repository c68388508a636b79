"""Issue 10, item 9: who may open what. Anonymous, agent, staff and superuser against every
page, API endpoint and admin action, each with an explicit expectation.

URLs come from the resolver, so a page someone adds later is covered at once; a URL that no
rule below expects fails the test until a rule says who may open it.
"""

import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conversations.models import Campaign, Conversation, DltTemplate, Message

from ..factories import ConversationFactory, DltTemplateFactory, MessageFactory, OptOutFactory

ROLES = ("anonymous", "agent", "staff", "superuser")
EVERYONE = set(ROLES)
SIGNED_IN = {"agent", "staff", "superuser"}
STAFF = {"staff", "superuser"}
# The agents' permissions (migration 0005); staff are agents who may also see the dashboard
# and the admin pages those permissions open.
AGENT_PERMISSIONS = [
    "view_conversation",
    "change_conversation",
    "view_message",
    "add_message",
    "view_dlttemplate",
    "view_optout",
    "view_consentevent",
]

# (pattern on the route, who may open it); the first rule that matches a route applies.
RULES = [
    (r"^$", EVERYONE),  # redirects to the inbox
    (r"^healthz", EVERYONE),  # load balancers: no secrets in it
    (r"^accounts/", EVERYONE),  # sign in and out
    (r"^api/(schema|docs|redoc)", EVERYONE),  # the API's documentation
    (r"^api/", SIGNED_IN),  # token or session
    (r"^inbox/", SIGNED_IN),  # agents and staff
    (r"^campaigns/", SIGNED_IN),  # progress pages for everyone signed in
    (r"^dashboard/", STAFF),  # agents get 403
    (r"^admin/", STAFF),  # every admin page; per-model checks below
]
WEBHOOKS = r"^webhook/"  # a token, not a user: test_every_webhook_needs_its_token


def routes(patterns=None, prefix=""):
    """(route text, pattern) of every URL, admin included; format-suffix twins left out."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, text)
        elif isinstance(entry, URLPattern) and "format" not in entry.pattern.regex.groupindex:
            yield text.replace("^", "").replace("$", ""), entry


def expected_roles(route):
    for pattern, roles in RULES:
        if re.search(pattern, route):
            return roles
    return None


@pytest.fixture
def users(db):
    group, _ = Group.objects.get_or_create(name="Agents")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="conversations").filter(
            codename__in=AGENT_PERMISSIONS
        )
    )
    model = get_user_model()
    agent = model.objects.create_user("matrix-agent", password="x")
    staff = model.objects.create_user("matrix-staff", password="x", is_staff=True)
    for user in (agent, staff):
        user.groups.add(group)
    superuser = model.objects.create_superuser("matrix-root", password="x")
    return {"anonymous": None, "agent": agent, "staff": staff, "superuser": superuser}


@pytest.fixture
def objects(db):
    """One of everything a URL can name."""
    conversation = ConversationFactory(phone_number="+919812345678")
    MessageFactory(conversation=conversation)
    DltTemplateFactory()
    OptOutFactory(phone_number="+919700000001")
    return conversation


def client_for(users, role):
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    return client


def concrete_path(route, entry):
    """Fill the route's parameters with objects that exist."""
    values = {
        "phone": quote(Conversation.objects.values_list("phone_number", flat=True).first()),
        "phone_number": quote("+919700000001"),
        "key": "messages",
    }
    by_kind = {
        "message": Message.objects.values_list("pk", flat=True).first(),
        "template": DltTemplate.objects.values_list("pk", flat=True).first(),
        "campaign": Campaign.objects.values_list("pk", flat=True).first(),
    }
    kind = (entry.name or "").split("-")[0]
    values["pk"] = by_kind.get(kind) or 1
    values["object_id"] = values["pk"]
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), "x")), route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values.get(m.group(1), "x")), path)
    return "/" + path.replace("/?", "/").replace("\\", "")


def denied(response):
    if response.status_code in (401, 403):
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and "login" in location


def visit(client, path):
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path)
    return response


def test_every_url_has_an_expectation():
    missing = [
        route
        for route, _ in routes()
        if expected_roles(route) is None and not re.search(WEBHOOKS, route)
    ]
    assert missing == [], f"add a rule to RULES for: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_endpoint_allows_exactly_the_expected_roles(users, objects, role):
    wrong = []
    for route, entry in routes():
        roles = expected_roles(route)
        if roles is None or re.search(WEBHOOKS, route) or route.startswith("admin/"):
            continue
        path = concrete_path(route, entry)
        response = visit(client_for(users, role), path)  # fresh: one URL signs out
        healthz_unhealthy = route == "healthz" and response.status_code == 503  # no worker here
        assert response.status_code < 500 or healthz_unhealthy, (path, response.status_code)
        if roles == EVERYONE:
            continue  # only "never a 500": sign-out, for one, redirects to the sign-in page
        if denied(response) == (role in roles):
            wrong.append((path, response.status_code, "denied" if denied(response) else "allowed"))
    assert wrong == [], f"{role}: {wrong}"


# --- Admin: every page, every model, every action ----------------------------------------

# What each admin action changes, so who may run it: the model permission it needs.
ACTION_NEEDS = {
    "delete_selected": "delete",
    "export_csv": "view",
    "export_number_data_json": "view",
    "export_number_data_csv": "view",
    "opt_out_numbers": "change",
    "opt_in_numbers": "change",
    "erase_number_data": "delete",
    "resend": "add",
    "replay": "change",
    "cancel_sessions": "change",
    "start_selected": "change",
    "pause_selected": "change",
    "resume_selected": "change",
    "cancel_selected": "change",
    "duplicate_selected": "add",
    "retarget_failed_selected": "add",
}


def model_admins():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def may(user, model, action):
    if user is None or not user.is_active or not user.is_staff:
        return False
    return user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_changelist_follows_the_model_permissions(users, objects, role):
    client, user = client_for(users, role), users[role]
    wrong = []
    for model, _ in model_admins():
        path = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        allowed = may(user, model, "view") or may(user, model, "change")
        if denied(response) == allowed:
            wrong.append((path, response.status_code))
    assert wrong == [], f"{role}: {wrong}"


def test_every_admin_action_has_an_expectation():
    request = _superuser_request()
    missing = [
        (model._meta.label, name)
        for model, model_admin in model_admins()
        for name in model_admin.get_actions(request)
        if name not in ACTION_NEEDS
    ]
    assert missing == [], f"add these actions to ACTION_NEEDS: {missing}"


def _superuser_request():
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model()(is_staff=True, is_superuser=True, is_active=True)
    return request


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_action_runs_only_for_who_may_run_it(users, objects, role, monkeypatch):
    client, user = client_for(users, role), users[role]
    ran = []
    for model, model_admin in model_admins():
        original = model_admin.get_actions

        def spying(request, original=original, label=model._meta.label):
            return {
                name: (_recording(func, label, name), name, text)
                for name, (func, name, text) in original(request).items()
            }

        monkeypatch.setattr(model_admin, "get_actions", spying)
    wrong = []
    for model, model_admin in model_admins():
        objects_of_model = model._default_manager.all()[:1]
        selected = [str(obj.pk) for obj in objects_of_model]
        if not selected:
            continue
        for name in model_admin.get_actions(_superuser_request()):
            ran.clear()
            path = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            response = client.post(path, {"action": name, "_selected_action": selected, "index": 0})
            assert response.status_code < 500, (path, name, response.status_code)
            allowed = may(user, model, ACTION_NEEDS.get(name, "change"))
            if bool(_ran_now(name)) != allowed:
                wrong.append((model._meta.label, name, "ran" if not allowed else "refused"))
    assert wrong == [], f"{role}: {wrong}"


_RUNS = []


def _recording(func, label, name):
    def action(modeladmin, request, queryset):
        _RUNS.append(name)
        return None  # record only: the action itself is tested where it is defined

    return action


def _ran_now(name):
    found = name in _RUNS
    _RUNS.clear()
    return found


# --- Webhooks: a token, not a user --------------------------------------------------------


def test_every_webhook_needs_its_token(objects, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "matrix-secret"
    client = Client()
    webhooks = [concrete_path(r, e) for r, e in routes() if re.search(WEBHOOKS, r)]
    assert webhooks, "no webhook URLs found"
    for path in webhooks:
        for method in ("get", "post"):
            response = getattr(client, method)(path, {"SmsSid": "x", "From": "+919812345678"})
            assert response.status_code in (403, 405), (method, path, response.status_code)
            with_wrong = getattr(client, method)(f"{path}?token=wrong", {"SmsSid": "x"})
            assert with_wrong.status_code in (403, 405), (method, path, with_wrong.status_code)
