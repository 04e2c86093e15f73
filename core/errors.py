"""The base error: every package's own hierarchy (`<package>/errors.py`) derives from it."""


class CwatchError(Exception):
    """An error cwatch raises on purpose, with a message for the person who can fix it (file, line, key); the
    CLI shows it without a traceback."""
