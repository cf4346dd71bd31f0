from django.apps import AppConfig


class ChurnmodelConfig(AppConfig):
    name = "churnmodel"
    verbose_name = "Churn model"

    def ready(self) -> None:
        from churnmodel import privacy, receivers, web  # noqa: F401 - re-scores on order and ticket activity

        web.register()  # the risk section of crm's customer page
        privacy.register()  # its part of a customer's export and erasure (crm.privacy)
