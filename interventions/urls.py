from django.urls import path

from interventions import web

urlpatterns = [
    path("queue/", web.queue, name="queue"),
    path("queue/calls/<int:pk>/", web.call_action, name="call-action"),
    path("queue/tickets/<int:pk>/", web.ticket_action, name="ticket-action"),
    path("at-risk/", web.at_risk, name="at-risk"),
    path(
        "customers/<str:external_id>/interventions/",
        web.start_intervention,
        name="start-intervention",
    ),
    path("approvals/", web.approvals, name="approvals"),
    path("approvals/<int:pk>/", web.approval_action, name="approval-action"),
    path("rules/", web.rules, name="rules"),
    path("rules/<int:pk>/dry-run/", web.dry_run, name="dry-run"),
    path("results/", web.results, name="results"),
]
