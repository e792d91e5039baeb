"""The domain's errors. The API maps them to HTTP statuses; the CLI to a one-line message and exit 1."""


class TokentraError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"


class InvalidInput(TokentraError):
    """The caller sent something malformed: a bad date, an unknown dimension, a bad price."""

    code = "invalid_input"


class NotFound(TokentraError):
    """A named thing (org, key, price, budget …) does not exist, or not for this org."""

    code = "not_found"


class Conflict(TokentraError):
    """The thing exists already (a slug, a name) or the change contradicts stored state."""

    code = "conflict"


class PermissionDenied(TokentraError):
    """The key is valid but its role or scope does not allow this."""

    code = "forbidden"


class BudgetExceeded(TokentraError):
    """A hard budget limit refuses the spend."""

    code = "budget_exceeded"


class DatabaseUnavailable(TokentraError):
    """The database could not be started or reached."""

    code = "database_unavailable"


class Unauthenticated(TokentraError):
    """No API key, or one that is unknown, revoked or expired."""

    code = "unauthenticated"


class ModelOutputInvalid(TokentraError):
    """Our own model call kept returning output that does not parse or does not check out (after retries)."""

    code = "model_output_invalid"


class ModelUnavailable(TokentraError):
    """Our own model call failed at the provider after the router's retries and fallbacks."""

    code = "model_unavailable"


class RateLimited(TokentraError):
    """A rate-limit routing rule refuses the request (its window is full)."""

    code = "rate_limited"
