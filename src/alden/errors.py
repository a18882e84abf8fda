"""User-facing errors: the CLI prints their message, never a traceback."""


class AldenError(Exception):
    """An error the user can fix; its message says what was wrong and where."""


class DataError(AldenError):
    """Bad input data: the message names the file, line or column and what was expected."""


class ProjectError(AldenError):
    """A labeling project on disk is missing, damaged, locked or of another schema version."""


class StorageError(AldenError):
    """The disk or the folder refused a write: full, read-only, or no permission."""
