"""A section of the settings file, declared by the package that reads it."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A `[table]` of the settings file: unknown keys are refused, so a misspelt one cannot silently not apply."""

    model_config = ConfigDict(extra="forbid")
