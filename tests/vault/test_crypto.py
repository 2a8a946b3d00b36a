"""Credential encryption: round trip, the generated key, and rotation through the command."""

from __future__ import annotations

import io
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from vault import crypto
from vault.models import Credential
from vault.services import credential_create, credential_value

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_round_trip_with_the_environment_key(monkeypatch):
    monkeypatch.setenv(crypto.KEY_VARIABLE, OLD)
    token = crypto.encrypt("s3cret-value-123")
    assert "s3cret" not in token
    assert crypto.decrypt(token) == "s3cret-value-123"
    assert Fernet(OLD.encode()).decrypt(token.encode()) == b"s3cret-value-123"


def test_without_a_key_one_is_generated_once_into_the_data_dir(monkeypatch, settings, tmp_path):
    monkeypatch.delenv(crypto.KEY_VARIABLE, raising=False)
    settings.DATA_DIR = tmp_path
    token = crypto.encrypt("embedded-default")
    path = tmp_path / crypto.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    assert crypto.decrypt(token) == "embedded-default"
    crypto.encrypt("again")
    assert path.read_text() == key
    assert Fernet(key.encode()).decrypt(token.encode()) == b"embedded-default"


def test_a_bad_key_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(crypto.KEY_VARIABLE, "not-a-fernet-key")
    with pytest.raises(crypto.EncryptionKeyError, match="Fernet keys"):
        crypto.encrypt("x" * 10)


@pytest.mark.django_db
def test_rotation_new_key_first_then_rotate_then_drop_the_old_key(monkeypatch, member, workspace):
    owner = member("owner")
    monkeypatch.setenv(crypto.KEY_VARIABLE, OLD)
    credential_create(user=owner, workspace_id=workspace.pk, name="weather_api", value="v" * 20)
    before = Credential.objects.get().encrypted_value

    # The new key goes first; the old one still decrypts what it encrypted.
    monkeypatch.setenv(crypto.KEY_VARIABLE, f"{NEW},{OLD}")
    assert credential_value(workspace_id=workspace.pk, name="weather_api") == "v" * 20
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "Re-encrypted 1 credential" in out.getvalue()
    after = Credential.objects.get().encrypted_value
    assert after != before
    assert Fernet(NEW.encode()).decrypt(after.encode()) == b"v" * 20

    # With the old key gone, the rotated value still reads; the old ciphertext would not.
    monkeypatch.setenv(crypto.KEY_VARIABLE, NEW)
    assert credential_value(workspace_id=workspace.pk, name="weather_api") == "v" * 20
    with pytest.raises(crypto.EncryptionKeyError):
        crypto.decrypt(before)


@pytest.mark.django_db
def test_rotation_refuses_without_the_old_key_and_changes_nothing(monkeypatch, member, workspace):
    owner = member("owner")
    monkeypatch.setenv(crypto.KEY_VARIABLE, OLD)
    credential_create(user=owner, workspace_id=workspace.pk, name="a_key", value="a" * 12)
    credential_create(user=owner, workspace_id=workspace.pk, name="b_key", value="b" * 12)
    before = dict(Credential.objects.values_list("name", "encrypted_value"))
    monkeypatch.setenv(crypto.KEY_VARIABLE, NEW)
    with pytest.raises(CommandError, match="no longer listed"):
        call_command("rotate_credentials", stdout=io.StringIO())
    assert dict(Credential.objects.values_list("name", "encrypted_value")) == before
