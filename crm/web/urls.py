from django.contrib.auth import views as auth_views
from django.urls import path

from crm.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", views.search, name="search"),
    path("customers/<str:external_id>/", views.customer, name="customer"),
    path("customers/<str:external_id>/notes/", views.add_note, name="customer-note"),
]
