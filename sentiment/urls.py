from django.urls import path

from sentiment import web

urlpatterns = [
    path("texts/<int:text_id>/label/", web.correct_label, name="correct-label"),
    path("voice/", web.voice, name="voice"),
]
