"""Local development and the demo: debug on, console email, everything embedded by default."""

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR, env_bool, env_str

DEBUG = env_bool("DEBUG", True)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)  # WhiteNoise warns on a missing STATIC_ROOT
