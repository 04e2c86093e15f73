"""Errors of the wiring package."""


class CwatchError(Exception):
    """Base of errors raised by settings, CLI and wiring."""


class SettingsError(CwatchError):
    """A configuration file or environment variable is wrong; the message names file, line and key."""
