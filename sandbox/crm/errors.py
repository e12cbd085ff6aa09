"""Salesforce-shaped API errors: an HTTP status plus the `[{"message", "errorCode"}]` body."""

from __future__ import annotations


class SalesforceError(Exception):
    """An error the CRM API answers with, in Salesforce's own shape.

    Attributes:
        error_code: Salesforce `errorCode`, e.g. `MALFORMED_QUERY`.
        message: the human-readable `message`.
        status: HTTP status code.
    """

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status

    def body(self) -> list[dict[str, str]]:
        """The JSON body Salesforce sends for this error."""
        return [{"message": self.message, "errorCode": self.error_code}]


class SoqlError(SalesforceError):
    """A SOQL query Salesforce would reject (always HTTP 400).

    Salesforce prefixes query errors with the query and a caret under the offending token
    (`ERROR at Row:1:Column:12`); `position` is that token's character offset, if known.
    """

    def __init__(
        self, error_code: str, detail: str, *, query: str | None = None, position: int | None = None
    ) -> None:
        self.detail = detail
        self.position = position
        message = detail
        if query is not None and position is not None:
            message = _pointed(query, position, detail)
        super().__init__(error_code, message, 400)

    def with_query(self, query: str) -> SoqlError:
        """This error with Salesforce's query echo and caret, when a position is known."""
        if self.position is None:
            return self
        return SoqlError(self.error_code, self.detail, query=query, position=self.position)


def _pointed(query: str, position: int, detail: str) -> str:
    before = query[:position]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    column = position - line_start + 1
    line_end = query.find("\n", position)
    line = query[line_start : None if line_end < 0 else line_end]
    caret = " " * (column - 1) + "^"
    return f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{detail}"
