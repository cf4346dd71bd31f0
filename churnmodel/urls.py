from django.urls import path

from churnmodel import web

urlpatterns = [path("model/", web.model_page, name="model")]
