"""Errors of the wiring package."""

from core.errors import CwatchError


class ServiceError(CwatchError):
    """Base of errors raised by settings, CLI and wiring."""


class SettingsError(ServiceError):
    """A configuration file or environment variable is wrong; the message names file, line and key."""


class BrokerCredentialsError(ServiceError):
    """Broker accounts cannot be generated: a clash of names, a password file edited out of shape, no password
    for the ingester; the message names what to fix."""
