from django.apps import AppConfig


class ChurnmodelConfig(AppConfig):
    name = "churnmodel"
    verbose_name = "Churn model"
