from django.apps import AppConfig


class SentimentConfig(AppConfig):
    name = "sentiment"
    verbose_name = "Sentiment"

    def ready(self) -> None:
        from sentiment import receivers  # noqa: F401 - listens for new customer texts
