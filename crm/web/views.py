"""crm's pages: sign-in, the home redirect by role, search, and the customer page (profile,
consent, timeline of orders, reviews, tickets and notes, plus the sections that the apps
above crm register)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.models import Customer, CustomerNote, Order, Review, Ticket, TicketMessage
from crm.web import params
from crm.web.access import is_htmx, requires
from crm.web.sections import CUSTOMER_SECTIONS, TEXT_ANNOTATORS, TIMELINE_SOURCES, TimelineItem

TIMELINE_LIMIT = 200
# The longest value a search compares with (an email address); nothing longer can match.
SEARCH_MAX_LENGTH = 254


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing a username longer than any user's before it reaches
    authenticate(): Django only sets the field's HTML maxlength, and django-axes records
    each failed attempt's username in a varchar(255), which PostgreSQL refused (a 500)."""

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if len(username) > (self.username_field.max_length or 254):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )
        return username


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


def home(request: HttpRequest) -> HttpResponse:
    """Where each role starts: agents at their queue, marketing at the results."""
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if user.has_perm("interventions.change_calltask"):
        return redirect("queue")
    if user.has_perm("interventions.view_results"):
        return redirect("results")
    if user.has_perm("crm.view_customer"):
        return redirect("search")
    return render(request, "web/no_role.html", status=403)


@requires("crm.view_customer")
def search(request: HttpRequest) -> HttpResponse:
    """Customers by name, email, external id, or the external id of one of their orders.
    A search that cannot be run (a NUL character, too long) is a 400 that says why."""
    try:
        query = params.text(request.GET, "q", max_length=SEARCH_MAX_LENGTH)
    except params.BadParam as bad:
        context = {"query": "", "error": f"Search not run: {bad}."}
        return render(request, "web/search.html", context, status=400)
    customers = Customer.objects.none()
    if query:
        by_order = Order.objects.filter(external_id__iexact=query).values("customer_id")
        customers = Customer.objects.filter(
            Q(external_id__iexact=query)
            | Q(email__iexact=query)
            | Q(name__icontains=query)
            | Q(pk__in=by_order)
        ).order_by("name", "pk")
        if "@" in query and not customers.exists():
            customers = Customer.objects.filter(email__icontains=query).order_by("email", "pk")
    page = Paginator(customers, 25).get_page(request.GET.get("page"))
    exact = [c for c in page if c.external_id.lower() == query.lower()]
    if len(exact) == 1 and page.paginator.count == 1:
        return redirect("customer", external_id=exact[0].external_id)
    return render(request, "web/search.html", {"query": query, "page": page})


@requires("crm.view_customer")
def customer(request: HttpRequest, external_id: str) -> HttpResponse:
    """The customer 360: who they are, what the apps above know of them, and the timeline."""
    person = get_object_or_404(Customer, external_id=params.url_id(external_id))
    sections = []
    for section in CUSTOMER_SECTIONS:
        found = section.context(request, person)
        if found is not None:
            html = render_to_string(section.template, {**found, "customer": person}, request)
            sections.append((section, html))
    context: dict[str, Any] = {
        "customer": person,
        "sections": sections,
        "timeline": timeline(request, person),
        "can_note": request.user.has_perm("crm.add_customernote"),
    }
    return render(request, "web/customer.html", context)


def timeline(request: HttpRequest, person: Customer) -> list[TimelineItem]:
    """Orders, reviews, tickets with their messages, notes and what the apps above add,
    newest first (the newest TIMELINE_LIMIT)."""
    items: list[TimelineItem] = []
    for order in Order.objects.filter(customer=person).order_by("-placed_at")[:TIMELINE_LIMIT]:
        items.append(
            TimelineItem(
                order.placed_at,
                "order",
                f"Order {order.external_id}",
                "web/items/order.html",
                {"order": order},
            )
        )
    reviews = list(
        Review.objects.filter(customer=person)
        .select_related("customer_text")
        .order_by("-created_at")[:TIMELINE_LIMIT]
    )
    messages = TicketMessage.objects.select_related("customer_text", "author_agent").order_by(
        "created_at"
    )
    tickets = list(
        Ticket.objects.filter(customer=person)
        .prefetch_related(Prefetch("messages", queryset=messages))
        .order_by("-opened_at")[:TIMELINE_LIMIT]
    )
    text_ids = [r.customer_text.pk for r in reviews if hasattr(r, "customer_text")]
    text_ids += [
        m.customer_text.pk for t in tickets for m in t.messages.all() if hasattr(m, "customer_text")
    ]
    notes: dict[int, dict[str, Any]] = {}
    for annotate in TEXT_ANNOTATORS:
        for text_id, annotation in annotate(request, text_ids).items():
            notes.setdefault(text_id, {}).update(annotation)
    for review in reviews:
        text = getattr(review, "customer_text", None)
        data: dict[str, Any] = {"review": review, "sentiment": notes.get(text.pk) if text else None}
        title = f"Review: {review.rating} stars"
        items.append(
            TimelineItem(review.created_at, "review", title, "web/items/review.html", data)
        )
    for ticket in tickets:
        rows = [
            (m, notes.get(m.customer_text.pk) if hasattr(m, "customer_text") else None)
            for m in ticket.messages.all()
        ]
        data = {"ticket": ticket, "messages": rows}
        title = f"Ticket: {ticket.subject}"
        items.append(TimelineItem(ticket.opened_at, "ticket", title, "web/items/ticket.html", data))
    for note in CustomerNote.objects.filter(customer=person).select_related("created_by")[:50]:
        items.append(
            TimelineItem(note.created_at, "note", "Note", "web/items/note.html", {"note": note})
        )
    for source in TIMELINE_SOURCES:
        items.extend(source(request, person))
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:TIMELINE_LIMIT]


@require_POST
@requires("crm.add_customernote")
def add_note(request: HttpRequest, external_id: str) -> HttpResponse:
    person = get_object_or_404(Customer, external_id=params.url_id(external_id))
    try:
        body = params.text(request.POST, "body", max_length=settings.CRM_MAX_TEXT_LENGTH)
    except params.BadParam as bad:
        error = f"Not saved: {bad}."
    else:
        error = "" if body else "Write something first."
    if error:
        context = {"customer": person, "error": error, "can_note": True}
        return render(request, "web/note_form.html", context, status=400)
    author = request.user if isinstance(request.user, User) else None
    note = CustomerNote.objects.create(customer=person, body=body, created_by=author)
    if is_htmx(request):
        item = TimelineItem(note.created_at, "note", "Note", "web/items/note.html", {"note": note})
        return render(request, "web/note_added.html", {"customer": person, "item": item})
    return redirect(reverse("customer", args=[person.external_id]) + "#timeline")
