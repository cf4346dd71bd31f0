from django.apps import AppConfig


class ChurnmodelConfig(AppConfig):
    name = "churnmodel"
    verbose_name = "Churn model"

    def ready(self) -> None:
        from churnmodel import receivers  # noqa: F401 - re-scores on order and ticket activity
