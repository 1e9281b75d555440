"""Logging, part of config.settings: plain lines on stderr."""

from config.env import env

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes announces its configuration at every start, commands included; lockouts
        # and failed logins are still logged (axes.handlers, WARNING).
        "axes.apps": {"level": "WARNING"},
    },
}
