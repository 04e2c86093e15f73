"""Shared fixtures: real Mosquitto and influxd (`testkit.services`), PostgreSQL databases (`testkit.postgres`), and
cheaper password hashes for the accounts tests make."""

from collections.abc import Iterator
from functools import partial

import pytest

import alerts.accounts

pytest_plugins = ["testkit.services", "testkit.postgres"]

TEST_SCRYPT_N = 2**10


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Accounts made in this process hash their passwords with scrypt N=2**10 rather than the service's 2**14: a
    hash cost ~0.05-0.2 s of CPU here, and a test of the API makes several before it starts. The stored hash
    names its parameters, so logins verify as they do in service; tests/alerts/test_accounts.py checks the
    hashing itself with explicit parameters, and subprocesses (the CLI tests) keep the service's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(alerts.accounts, "hash_password", partial(alerts.accounts.hash_password, n=TEST_SCRYPT_N))
        yield
