from django.apps import AppConfig


class SentimentConfig(AppConfig):
    name = "sentiment"
    verbose_name = "Sentiment"

    def ready(self) -> None:
        from sentiment import checks, privacy, receivers, web  # noqa: F401 - checks; listens for new texts

        web.register()  # label badges, evidence and a chart on crm's customer page
        privacy.register()  # its part of a customer's export and erasure (crm.privacy)
