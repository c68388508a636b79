"""The agents' inbox: server-rendered pages, with htmx fragments for the live parts.

Every view needs a signed-in user with the inbox permissions (the "Agents" group, or staff);
what is sent goes through `sending.send_reply` / `send_new_message` (both respect the reply
lock), as from the API.
"""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.views.decorators.http import require_http_methods

from ..models import Direction, DltTemplate, MessageSource
from ..phone import normalise_phone
from ..services import (
    calls,
    consent,
    exports,
    flows,
    inbox,
    outcomes,
    reply_locks,
    sending,
    triage,
)
from ..services.audit import record_action
from .forms import NewMessageForm, ReplyForm

PAGE_SIZE = 25
VIEW = "conversations.view_conversation"
SEND = "conversations.add_message"
ASSIGN = "conversations.change_conversation"


def inbox_view(permission, methods=("GET",)):
    """Signed in (else the login page), with `permission` (else 403), for these methods."""

    def decorate(view):
        view = require_http_methods(list(methods))(view)
        view = permission_required(permission, raise_exception=True)(view)
        return signed_in_or_login_page(view)

    return decorate


def signed_in_or_login_page(view):
    """login_required, except that a background request (htmx polling, the reply box's
    heartbeat) of someone whose session has expired gets a 401 telling the page to go to the
    login page as a whole, instead of a login form pasted into a fragment of the page."""
    page_view = login_required(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated or not request.headers.get("HX-Request"):
            return page_view(request, *args, **kwargs)
        # The page the person is on (htmx sends it), so that signing in brings them back.
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = current.path or resolve_url("inbox:list")
        if current.query:
            back += f"?{current.query}"
        login = redirect_to_login(back, resolve_url(settings.LOGIN_URL))["Location"]
        response = HttpResponse("Your session has expired; sign in again.", status=401)
        response["HX-Redirect"] = login
        return response

    return wrapper


def _list_params(request):
    query = request.GET.get("q", "")
    filter_name = request.GET.get("filter", "")
    return query, filter_name if filter_name in inbox.FILTERS else ""


def _list_context(request):
    query, filter_name = _list_params(request)
    conversations = inbox.search_conversations(request.user, query=query, filter_name=filter_name)
    page = Paginator(conversations, PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "page": page,
        "rows": inbox.inbox_rows(page.object_list),
        "query": query,
        "filter": filter_name,
        "filters": inbox.FILTER_CHOICES,
        "querystring": request.GET.urlencode(),
    }


@inbox_view(VIEW)
def conversation_list(request):
    return render(request, "inbox/list.html", _list_context(request))


@inbox_view(VIEW)
def conversation_rows(request):
    """The list alone, for htmx polling."""
    return render(request, "inbox/_rows.html", _list_context(request))


def _conversation(request, phone):
    try:
        number = normalise_phone(phone)
    except ValidationError as exc:
        raise Http404("No such conversation.") from exc
    conversations = inbox.with_opt_out(inbox.visible_conversations(request.user))
    conversations = conversations.select_related("assignee", "replying_user", "closed_by")
    return get_object_or_404(conversations, phone_number=number)


def _messages_context(request, conversation):
    triage.mark_conversation_read(conversation)
    holder = reply_locks.holder_of(conversation, request.user)
    # The newest messages (a long thread would be slow to render every poll), or all of them.
    show_all = bool(request.GET.get("all"))
    messages, earlier = inbox.recent_messages(
        conversation, limit=None if show_all else inbox.THREAD_LIMIT
    )
    return {
        "conversation": conversation,
        # Messages and calls (issue 9) in time order.
        "thread": calls.thread_with_calls(conversation, messages),
        "earlier": earlier,
        "show_all": show_all,
        "Direction": Direction,
        "replying": reply_locks.display_name(holder) if holder else "",
    }


@inbox_view(VIEW, methods=("GET", "POST"))
def thread(request, phone):
    conversation = _conversation(request, phone)
    form = ReplyForm(request.POST or None, variables=request.POST.getlist("variables"))
    if request.method == "POST":
        if not request.user.has_perm(SEND):
            raise PermissionDenied("Replying needs the permission to send messages.")
        if form.is_valid() and _send(request, form, conversation.phone_number, conversation):
            flash.success(request, "Reply queued.")
            return redirect("inbox:thread", phone=conversation.phone_number)
    context = {
        **_messages_context(request, conversation),
        "form": form,
        "templates": DltTemplate.objects.filter(active=True).order_by("name"),
        "consent_history": consent.consent_history(conversation.phone_number)[:20],
        "active_flow": flows.active_session(conversation),
        "agents": _agents() if request.user.has_perm(ASSIGN) else [],
        "can_send": request.user.has_perm(SEND),
        "outcomes": outcomes.outcome_choices(),
        "lock_seconds": reply_locks.lock_seconds(),
        "max_name": triage.MAX_NAME,
    }
    return render(request, "inbox/thread.html", context, status=400 if form.errors else 200)


@inbox_view(VIEW)
def thread_messages(request, phone):
    """The thread's messages alone, for htmx polling (new replies, status changes)."""
    conversation = _conversation(request, phone)
    context = {**_messages_context(request, conversation), "fragment": True}
    return render(request, "inbox/_messages.html", context)


@inbox_view(SEND, methods=("POST",))
def replying(request, phone):
    """The reply box's heartbeat: take or renew the lock ("Asha is replying"), or let it go
    (`release`). Answers whether this person holds it, and who does otherwise."""
    conversation = _conversation(request, phone)
    if request.POST.get("release"):
        reply_locks.release(conversation.phone_number, request.user)
        return JsonResponse({"mine": False, "holder": None})
    other = reply_locks.claim(conversation.phone_number, request.user)
    return JsonResponse(
        {
            "mine": other is None,
            "holder": reply_locks.display_name(other) if other else None,
            "seconds": reply_locks.lock_seconds(),
        }
    )


@inbox_view(ASSIGN, methods=("POST",))
def outcome(request, phone):
    """One click: close with an outcome (Confirmed, Rescheduled...), or reopen."""
    conversation = _conversation(request, phone)
    chosen = request.POST.get("outcome", "")
    if request.POST.get("reopen"):
        outcomes.reopen_conversation(conversation, user=request.user, request=request)
        flash.success(request, "Conversation reopened.")
    else:
        try:
            outcomes.close_conversation(conversation, chosen, user=request.user, request=request)
        except ValidationError as exc:
            flash.error(request, exc.message_dict["outcome"][0])
        else:
            flash.success(request, f"Closed as {chosen}.")
    return redirect("inbox:thread", phone=conversation.phone_number)


@inbox_view(ASSIGN, methods=("POST",))
def handled(request, phone):
    """Clear the "needs attention" flag without replying by SMS (dealt with on the phone, or
    nothing to answer); a reply clears it too."""
    conversation = _conversation(request, phone)
    triage.clear_attention(
        conversation, user=request.user, remote_addr=request.META.get("REMOTE_ADDR")
    )
    flash.success(request, "Marked as handled.")
    return redirect("inbox:thread", phone=conversation.phone_number)


@inbox_view(ASSIGN, methods=("POST",))
def rename(request, phone):
    """Name the contact (a blank name removes it)."""
    conversation = _conversation(request, phone)
    try:
        triage.rename_contact(
            conversation,
            request.POST.get("name", ""),
            user=request.user,
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
    except ValidationError as exc:
        flash.error(request, exc.message_dict["name"][0])
    else:
        flash.success(request, "Name saved." if conversation.contact_name else "Name removed.")
    return redirect("inbox:thread", phone=conversation.phone_number)


def _send(request, form, to, conversation=None):
    send = sending.send_reply if conversation is not None else sending.send_new_message
    try:
        return send(
            to,
            user=request.user,
            source=MessageSource.INBOX,
            conversation=conversation,
            **form.send_options(),
        )
    except sending.SendRefused as refusal:
        form.add_refusal(refusal)
        return None


@inbox_view(SEND, methods=("GET", "POST"))
def new_message(request):
    initial = {"to": request.GET.get("to", "")}
    form = NewMessageForm(
        request.POST or None, initial=initial, variables=request.POST.getlist("variables")
    )
    if request.method == "POST" and form.is_valid():
        to = form.cleaned_data["to"]
        if _send(request, form, to):
            flash.success(request, "Message queued.")
            return redirect("inbox:thread", phone=normalise_phone(to))
    context = {"form": form, "templates": DltTemplate.objects.filter(active=True).order_by("name")}
    return render(request, "inbox/new.html", context, status=400 if form.errors else 200)


@inbox_view(ASSIGN, methods=("POST",))
def assign(request, phone):
    conversation = _conversation(request, phone)
    value = request.POST.get("assignee", "")
    if value == "me":
        assignee = request.user
    elif request.user.is_staff:
        try:
            assignee = triage.find_assignee(value)
        except ValidationError:
            flash.error(request, "No such agent.")
            return redirect("inbox:thread", phone=conversation.phone_number)
    else:
        # An agent takes a conversation or lets it go; handing it to others is for staff.
        assignee = None if value == "" else request.user
    triage.assign_conversation(
        conversation, assignee, user=request.user, remote_addr=request.META.get("REMOTE_ADDR")
    )
    return redirect("inbox:thread", phone=conversation.phone_number)


@inbox_view(VIEW)
def export_conversations(request):
    query, filter_name = _list_params(request)
    conversations = inbox.search_conversations(request.user, query=query, filter_name=filter_name)
    record_action(
        "inbox_export", target="conversations.csv", request=request, query=query, filter=filter_name
    )
    return exports.stream_csv(
        "conversations.csv", inbox.EXPORT_HEADER, inbox.export_rows(conversations)
    )


def _agents():
    group = Group.objects.filter(name=inbox.AGENTS_GROUP).first()
    return list(group.user_set.filter(is_active=True).order_by("username")) if group else []
