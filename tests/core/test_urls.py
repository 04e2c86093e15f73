"""URL rules (`core.urls`): media URLs a device sends, URLs cwatch calls, and media allow-list entries matched
as browsers match CSP host sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.errors import DeliveryError, UndeliverableError
from alerts.outbound import OutboundGuard
from core.urls import media_allowed, outbound_problem, parse_allow_entry
from cwatch.errors import SettingsError
from cwatch.settings import load_settings


@pytest.mark.parametrize(
    ("url", "allow_private", "refused"),
    [
        ("https://hooks.example.org/cwatch", False, None),
        ("http://127.0.0.1:9/hook", False, "this machine"),
        ("http://localhost/hook", False, "this machine"),
        ("http://127.0.0.1:8000/sms", True, None),  # a gateway relay on this host, allowed by the operator
        ("http://169.254.169.254/latest/meta-data/", True, "link-local"),
        ("http://[fe80::1]/hook", True, "link-local"),
        ("http://10.1.2.3/hook", False, "private"),
        ("http://10.1.2.3/hook", True, None),
        ("http://[fd00::5]/hook", False, "private"),
        ("http://0.0.0.0/hook", True, "this machine"),
        ("http://[ff02::1]/hook", True, "multicast"),
        ("ftp://hooks.example.org/x", False, "scheme"),
    ],
)
def test_outbound_urls(url: str, allow_private: bool, refused: str | None) -> None:
    problem = outbound_problem(url, allow_private=allow_private)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None
        assert refused in problem


def test_an_apprise_template_host_is_not_judged() -> None:
    assert outbound_problem("wecombot://{address}", allow_private=False, schemes=frozenset()) is None
    assert outbound_problem("json://127.0.0.1/x", allow_private=False, schemes=frozenset()) is not None


@pytest.mark.parametrize(
    ("entry", "url", "shown"),
    [
        ("nvr.example.cn", "https://nvr.example.cn/snap/1.jpg", True),
        ("nvr.example.cn", "http://nvr.example.cn/snap/1.jpg", True),
        ("nvr.example.cn", "http://nvr.example.cn:8080/snap/1.jpg", False),  # no port: the default one only (CSP)
        ("nvr.example.cn:8080", "http://nvr.example.cn:8080/snap/1.jpg", True),
        ("nvr.example.cn:*", "http://nvr.example.cn:8080/snap/1.jpg", True),
        ("https://nvr.example.cn", "http://nvr.example.cn/snap/1.jpg", False),
        ("http://nvr.example.cn", "https://nvr.example.cn/snap/1.jpg", True),  # CSP lets http upgrade to https
        ("*.cam.example.org", "https://b3.cam.example.org/x.jpg", True),
        ("*.cam.example.org", "https://cam.example.org/x.jpg", False),  # CSP: a wildcard needs a subdomain
        ("*.cam.example.org", "https://evilcam.example.org/x.jpg", False),
        ("192.168.10.5", "http://192.168.10.5/snap.jpg", True),
        ("nvr.example.cn", "https://nvr.example.cn.evil.org/snap.jpg", False),
        ("nvr.example.cn", "javascript:alert(1)//nvr.example.cn", False),
    ],
)
def test_media_allow_list_matches_as_csp_does(entry: str, url: str, shown: bool) -> None:
    assert media_allowed(url, (parse_allow_entry(entry),)) is shown


@pytest.mark.parametrize(
    "entry", ["nvr.example.cn/snap", "'self'", "nvr.example.cn; script-src *", "*", "data:", "nvr:99999", "a b"]
)
def test_allow_list_entries_that_are_not_host_sources_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"host source|out of range"):
        parse_allow_entry(entry)


async def test_the_guard_checks_where_a_name_resolves() -> None:
    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async def to_public(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    await OutboundGuard(resolve=to_public).check("https://hooks.example.org/cwatch")
    with pytest.raises(UndeliverableError, match=r"resolves to 127\.0\.0\.1 \(127\.0\.0\.1 is this machine\)"):
        await OutboundGuard(resolve=to_loopback).check("https://hooks.example.org/cwatch")
    with pytest.raises(UndeliverableError, match="link-local"):
        await OutboundGuard(resolve=to_public).check("http://169.254.169.254/latest")
    with pytest.raises(DeliveryError, match="cannot resolve") as info:
        await OutboundGuard(resolve=nowhere).check("https://hooks.example.org/cwatch")
    assert not isinstance(info.value, UndeliverableError)  # a resolver hiccup is retried
    await OutboundGuard(allow_private=True, resolve=to_loopback).check("https://relay.lan/cwatch")
    with pytest.raises(UndeliverableError, match="link-local"):
        await OutboundGuard(allow_private=True, resolve=to_public).check("http://[fe80::1%25eth0]/hook")


def _settings(tmp_path: Path, text: str) -> None:
    p = tmp_path / "cwatch.toml"
    p.write_text(text, encoding="utf-8")
    load_settings(p, environ={})


def test_settings_refuse_a_webhook_on_this_machine_unless_allowed(tmp_path: Path) -> None:
    secret = "s" * 20
    with pytest.raises(SettingsError, match=r"webhook_url: 127\.0\.0\.1 is this machine.*allow_private_targets"):
        _settings(tmp_path, f"[notify]\nwebhook_url = 'http://127.0.0.1:9/hook'\nwebhook_secret = '{secret}'\n")
    with pytest.raises(SettingsError, match=r"channels\.ntfy: 169\.254\.169\.254 is a link-local"):
        _settings(tmp_path, "[notify.channels]\nntfy = 'ntfy://169.254.169.254/{address}'\n")
    _settings(
        tmp_path,
        f"[notify]\nwebhook_url = 'http://10.0.0.9/hook'\nwebhook_secret = '{secret}'\nallow_private_targets = true\n",
    )


async def test_webhook_senders_ask_the_guard_before_posting() -> None:
    """The signed webhook and a contact point of kind webhook post nothing to an address the guard refuses."""
    import httpx

    from alerts.channels import WebhookSender
    from alerts.messages import Message
    from alerts.notify import Delivery, WebhookChannel
    from core.clock import ManualClock

    posted: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: posted.append(r) or httpx.Response(204)))

    async def metadata(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    guard = OutboundGuard(allow_private=True, resolve=metadata)
    hook = WebhookChannel("http://hooks.example.org/x", "s" * 20, clock=ManualClock(0), client=client, guard=guard)
    with pytest.raises(UndeliverableError, match="link-local"):
        await hook.deliver(Delivery("d", "webhook", 1, {}, 1))
    sender = WebhookSender(None, "s" * 20, clock=ManualClock(0), client=client, guard=guard)
    with pytest.raises(UndeliverableError, match="link-local"):
        await sender.send("webhook", "http://planted.example.org/steal", Message("t", "b"), {})
    assert posted == []
    await client.aclose()


def test_a_contact_point_webhook_on_a_link_local_address_is_refused() -> None:
    from devices.errors import RegistryError
    from devices.model import ChannelKind, ContactPoint
    from devices.sample import sample_street

    reg = sample_street(1)
    person = next(iter(reg.people.values()))
    with pytest.raises(RegistryError, match=r"webhook URL refused: 169\.254\.169\.254 is a link-local"):
        reg.with_changes(
            contacts=[ContactPoint(ChannelKind.WEBHOOK, "http://169.254.169.254/latest", person_id=person.id)]
        )
