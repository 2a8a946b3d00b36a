"""API authentication: a personal token (Bearer) for programs, the session (with CSRF) for pages."""

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from .services import token_check


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        # An expired or revoked token raises Unauthenticated: 401 saying why, not a bare 401.
        user = token_check(token)
        if user is not None:
            request.user = user
        return user


API_AUTH = [TokenAuth(), SessionAuth(csrf=True)]
