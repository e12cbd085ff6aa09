"""The recursive-descent scaffolding the sandbox's two query languages (SOQL, SuiteQL) share.

Only the token cursor is common: each language keeps its own tokenizer, syntax tree, error
type and messages, and SQL emission, because their rules differ (SOQL: case-insensitive
keywords read as identifiers, unquoted datetime literals, errors with a code and a caret;
SuiteQL: lower-cased keywords of their own kind, Oracle expressions, plain NetSuite messages).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class LexToken(Protocol):
    """What the cursor needs of a token: its kind (`eof` ends the list) and offset."""

    @property
    def kind(self) -> str: ...

    @property
    def pos(self) -> int: ...


T = TypeVar("T", bound=LexToken)


class TokenCursor(Generic[T]):
    """A parser's place in a token list whose last token is of kind `eof`.

    A language supplies `text_of` (a token's text as the parser compares it) and `expected`
    (the error it raises when the current token is not the one it needs).
    """

    def __init__(self, tokens: list[T]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> T:
        """The current token."""
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> T:
        """The token `ahead` places after the current one."""
        return self.tokens[self.i + ahead]

    def advance(self) -> T:
        """Move past the current token and return it."""
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        """Whether the current token is of `kind` (and reads `text`, when given)."""
        tok = self.tok
        return tok.kind == kind and (text is None or self.text_of(tok) == text)

    def accept(self, kind: str, text: str | None = None) -> T | None:
        """The current token, consumed, if it matches `at(kind, text)`; else None."""
        if self.at(kind, text):
            return self.advance()
        return None

    def expect(self, kind: str, text: str | None = None) -> T:
        """The current token, consumed; raises `expected(text or kind)` if it does not match."""
        tok = self.accept(kind, text)
        if tok is None:
            raise self.expected(text or kind)
        return tok

    def expect_end(self) -> None:
        """Raise `expected("end of query")` unless every token has been consumed."""
        if self.tok.kind != "eof":
            raise self.expected("end of query")

    def text_of(self, tok: T) -> str:
        """A token's text as `at` compares it."""
        raise NotImplementedError

    def expected(self, what: str) -> Exception:
        """The error for a current token that is not `what`."""
        raise NotImplementedError
