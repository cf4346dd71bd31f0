from django.apps import AppConfig


class ChurnmodelConfig(AppConfig):
    name = "churnmodel"
    verbose_name = "Churn model"

    def ready(self) -> None:
        from churnmodel import receivers, web  # noqa: F401 - re-scores on order and ticket activity

        web.register()  # the risk section of crm's customer page
