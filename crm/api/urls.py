"""Routes of the CRM API, included under /api/ by config.urls."""

from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from crm.api import views
from crm.api.errors import not_found

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("orders", views.OrderViewSet, basename="order")
router.register("reviews", views.ReviewViewSet, basename="review")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register(
    r"tickets/(?P<ticket_external_id>[^/]+)/messages",
    views.TicketMessageViewSet,
    basename="ticket-message",
)
router.register("events", views.EventViewSet, basename="event")

urlpatterns = [
    path("", include(router.urls)),
    # Last: anything else under /api/ is a JSON 404, as an integration expects.
    re_path(r"^.*$", not_found),
]
