"""The one exception type the CLI turns into a single readable line."""


class UserError(Exception):
    """A mistake the user can fix; printed as one line without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
