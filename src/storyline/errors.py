"""Errors with messages that name the allowed values and the fix."""

from __future__ import annotations


class StorylineError(Exception):
    """Base class for every error storyline raises on purpose."""


class ConfigError(StorylineError, ValueError):
    """A configuration value is wrong; the message names the allowed values."""


class InputError(StorylineError):
    """An input cannot be read at all (a missing path, an unknown format)."""


class StoreError(StorylineError):
    """The store folder is missing, foreign or written by an incompatible version."""
