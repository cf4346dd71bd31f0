from django.apps import AppConfig


class InterventionsConfig(AppConfig):
    name = "interventions"
    verbose_name = "Interventions"

    def ready(self) -> None:
        from interventions import web

        web.register()  # its sections of crm's customer page
