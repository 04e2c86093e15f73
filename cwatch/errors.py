"""Errors of the wiring package."""


class CwatchError(Exception):
    """Base of errors raised by settings, CLI and wiring."""


class SettingsError(CwatchError):
    """A configuration file or environment variable is wrong; the message names file, line and key."""


class BrokerCredentialsError(CwatchError):
    """Broker accounts cannot be generated: a clash of names, a password file edited out of shape, no password
    for the ingester; the message names what to fix."""
