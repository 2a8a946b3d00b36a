"""API authentication: a personal token (Bearer) for programs, the session (with CSRF) for pages."""

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from .services import token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


API_AUTH = [TokenAuth(), SessionAuth(csrf=True)]
