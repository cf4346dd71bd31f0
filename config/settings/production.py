"""Production: refuses to start without its secrets and servers."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_list, env_str
from config.settings.base import *  # noqa: F403

SECRET_KEY = env_str("SECRET_KEY", required=True)
if not env_str("DATABASE_URL"):
    raise ImproperlyConfigured("DATABASE_URL must be set in production.")
if not env_str("REDIS_URL"):
    raise ImproperlyConfigured("REDIS_URL must be set in production.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production.")
DEBUG = False
