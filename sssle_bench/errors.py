"""The package's own exception type; the CLI turns it into a one-line message."""


class SssleError(Exception):
    """An error a user can act on: the message names the file, key or row at fault."""
