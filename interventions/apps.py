from django.apps import AppConfig


class InterventionsConfig(AppConfig):
    name = "interventions"
    verbose_name = "Interventions"

    def ready(self) -> None:
        from interventions import privacy, web

        web.register()  # its sections of crm's customer page
        privacy.register()  # its part of a customer's export and erasure (crm.privacy)
