"""The one error bad input raises, before anything is built."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting has a value the construct cannot use; the message says which and why."""

    def __init__(self, setting: str, given: object, expected: str) -> None:
        self.setting = setting
        self.given = given
        self.expected = expected
        super().__init__(f"Invalid setting '{setting}': got {given!r}; expected {expected}.")

    def renamed(self, setting: str) -> ConfigError:
        """The same error under another name for the setting (the key the user typed)."""
        return ConfigError(setting, self.given, self.expected)
