"""The download-link policy: which presigned links are fetched, and what errors may say about them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
from urllib3 import BaseHTTPResponse

from archiver.core.errors import ConfigurationError, DisallowedLinkError, DownloadFailedError
from archiver.core.links import DownloadLinkPolicy, origin, redact
from archiver.store.copy import archive_download

# The deployed allowlist: cdk.json's, its one home (the functions get it from the stack).
CDK_JSON = Path(__file__).resolve().parents[3] / "cdk.json"
DEFAULT_DOWNLOAD_ALLOWLIST: str = json.loads(CDK_JSON.read_text())["context"]["archiver"]["downloadAllowlist"]
SIGNATURE = "X-Amz-Signature=0123456789abcdef"
QUERY = f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300&{SIGNATURE}"


@pytest.fixture
def deployed_policy() -> DownloadLinkPolicy:
    return DownloadLinkPolicy.from_setting(DEFAULT_DOWNLOAD_ALLOWLIST)


@pytest.mark.parametrize(
    "url",
    [
        f"https://bucket.s3.us-east-1.amazonaws.com/assetbundle-job.qs{QUERY}",
        f"https://quicksight-exports.s3.amazonaws.com/a/b.qs{QUERY}",
        f"https://bucket.s3.cn-north-1.amazonaws.com.cn/export.csv{QUERY}",
        f"https://BUCKET.S3.US-EAST-1.AMAZONAWS.COM/upper-case-host{QUERY}",
        f"HTTPS://bucket.s3.amazonaws.com/upper-case-scheme{QUERY}",
        f"https://bucket.s3.amazonaws.com:443/explicit-port{QUERY}",
        f"https://bucket.s3.amazonaws.com:8443/other-port-ignored{QUERY}",
        f"https://bucket.s3.amazonaws.com./trailing-dot{QUERY}",
    ],
)
def test_deployed_policy_allows_aws_hosted_links(deployed_policy: DownloadLinkPolicy, url: str) -> None:
    # Given the deployed allowlist and a presigned link on an AWS domain
    # When the link is checked
    # Then it is allowed (no exception)
    deployed_policy.check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"http://bucket.s3.amazonaws.com/k{QUERY}", "plain http when only https is allowed"),
        ("file:///etc/passwd", "local file"),
        ("s3://bucket/key", "not an HTTP link"),
        ("ftp://bucket.s3.amazonaws.com/k", "other scheme"),
        ("https://169.254.169.254/latest/meta-data/", "instance metadata IP"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "instance metadata IPv6"),
        ("https://127.0.0.1/", "loopback IP not listed"),
        ("https://amazonaws.com.evil.example/", "suffix appended to a trusted name"),
        ("https://evilamazonaws.com/", "label glued onto the trusted domain"),
        ("https://amazonaws.com/", "the bare domain is not *.domain"),
        ("https://bucket.s3.amazonaws.com.evil.example/k", "trusted name as a prefix"),
        ("https://a@b.s3.amazonaws.com/", "user info"),
        ("https://user:pass@b.s3.amazonaws.com/", "user info with password"),
        ("https://evil.example\\@b.s3.amazonaws.com/", "backslash trick: urllib3 connects to evil.example"),
        ("https://b.s3.amazonaws.com%2f@evil.example/", "encoded slash in user info"),
        ("https:///no-host", "empty host"),
        ("https://", "nothing but a scheme"),
        ("bucket.s3.amazonaws.com/k", "no scheme"),
        ("", "empty"),
        ("https://b.s3.amazonaws.com/k\r\nX-Injected: 1", "control characters"),
        ("https://b..s3.amazonaws.com/", "empty DNS label"),
        ("https://b_s3.amazonaws.com/", "not a DNS name"),
        ("https://b.s3.amazonaws.com../k", "two trailing dots"),
    ],
)
def test_deployed_policy_refuses_other_links(deployed_policy: DownloadLinkPolicy, url: str, why: str) -> None:
    # Given the deployed allowlist and a link that must not be fetched
    # When the link is checked
    # Then it is refused
    with pytest.raises(DisallowedLinkError):
        deployed_policy.check(url)


@pytest.mark.parametrize(
    ("setting", "url", "allowed"),
    [
        ("http://127.0.0.1", "http://127.0.0.1:51234/bundle.qs?X-Amz-Signature=x", True),
        ("http://127.0.0.1", "http://127.0.0.1/bundle.qs", True),
        ("http://127.0.0.1", "https://127.0.0.1/bundle.qs", False),
        ("http://127.0.0.1", "http://127.0.0.2/bundle.qs", False),
        ("http://127.0.0.1", "http://localhost/bundle.qs", False),
        ("https://[::1]", "https://[0:0:0:0:0:0:0:1]:8443/x", True),
        ("https://downloads.example.com", "https://downloads.example.com/x", True),
        ("https://downloads.example.com", "https://a.downloads.example.com/x", False),
        ("https://*.example.com", "https://a.b.c.example.com/x", True),
        ("https://*.example.com", "https://example.com/x", False),
        ("https://*.example.com , http://127.0.0.1,", "http://127.0.0.1:8/x", True),
    ],
)
def test_policy_matches_listed_origins_only(setting: str, url: str, allowed: bool) -> None:
    # Given a policy built from a setting
    policy = DownloadLinkPolicy.from_setting(setting)

    # When the link is checked
    # Then it is allowed exactly when its scheme and host are listed (ports do not matter)
    if allowed:
        policy.check(url)
    else:
        with pytest.raises(DisallowedLinkError):
            policy.check(url)


@pytest.mark.parametrize(
    "setting",
    [
        "",
        " , ",
        "*.amazonaws.com",
        "https://*",
        "https://*.com",
        "https://a.*.amazonaws.com",
        "https://**.amazonaws.com",
        "ftp://*.amazonaws.com",
        "file:///",
        "https://*.amazonaws.com:443",
        "https://example.com:8443",
        "http://downloads.example.com",
        "http://*.example.com",
        "http://10.0.0.1",
        "https://*.amazonaws.com/path",
        "https://user@host.example.com",
        "https://*.127.0.0.1",
        "https://bad_host.example.com",
        "https://",
    ],
)
def test_bad_setting_is_a_configuration_error_naming_the_setting(setting: str) -> None:
    # Given an allowlist setting that is empty or holds an entry that is not an origin
    # When the policy is built
    # Then a ConfigurationError names DOWNLOAD_ALLOWLIST
    with pytest.raises(ConfigurationError, match="DOWNLOAD_ALLOWLIST"):
        DownloadLinkPolicy.from_setting(setting)


@pytest.mark.parametrize(
    "url",
    [
        f"http://bucket.s3.amazonaws.com/k{QUERY}",
        f"https://evil.example/k{QUERY}",
        f"https://169.254.169.254/k{QUERY}",
        f"https://user:{SIGNATURE}@bucket.s3.amazonaws.com/k{QUERY}",
        f"ftp://bucket.s3.amazonaws.com/k{QUERY}",
        f"https://bad host/k{QUERY}",
        f"https://[zz/k{QUERY}",
    ],
)
def test_refusal_never_repeats_the_links_credentials(deployed_policy: DownloadLinkPolicy, url: str) -> None:
    # Given a refused presigned link
    # When it is checked
    with pytest.raises(DisallowedLinkError) as refused:
        deployed_policy.check(url)

    # Then the error says nothing of its query string or user info
    assert "X-Amz-Signature" not in str(refused.value)
    assert "X-Amz" not in repr(refused.value)


def test_refusal_names_scheme_and_host(deployed_policy: DownloadLinkPolicy) -> None:
    # Given a link to an untrusted host
    # When it is checked
    with pytest.raises(DisallowedLinkError) as refused:
        deployed_policy.check(f"https://evil.example:8443/secret/path{QUERY}")

    # Then the error names its scheme and host, so an operator can tell what was refused
    assert "https://evil.example" in str(refused.value)
    assert "/secret/path" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "redacted", "origin_only"),
    [
        (
            f"https://bucket.s3.amazonaws.com/exports/bundle.qs{QUERY}#frag",
            "https://bucket.s3.amazonaws.com/exports/bundle.qs",
            "https://bucket.s3.amazonaws.com",
        ),
        (
            f"http://user:{SIGNATURE}@127.0.0.1:8080/a.csv{QUERY}",
            "http://127.0.0.1:8080/a.csv",
            "http://127.0.0.1",
        ),
        ("https://[zz/", "<unparseable link>", "<unparseable link>"),
    ],
)
def test_redact_and_origin_drop_credentials(url: str, redacted: str, origin_only: str) -> None:
    # Given a presigned link
    # When it is redacted for a log line, or reduced to its origin for an error message
    # Then the query string and user info are gone
    assert redact(url) == redacted
    assert origin(url) == origin_only


# -- server-side request forgery: what a hostile or broken service answer could make the copy step fetch -----

SSRF_LINKS = [
    # IP literals, private, loopback and link-local, however they are spelt
    ("https://10.0.0.1/", "private IPv4 literal"),
    ("https://[::1]/", "IPv6 loopback"),
    ("https://[::ffff:169.254.169.254]/latest/meta-data/", "metadata IP as IPv4-mapped IPv6"),
    ("https://2852039166/latest/meta-data/", "metadata IP as one decimal number"),
    ("https://0xA9FEA9FE/latest/meta-data/", "metadata IP in hex"),
    ("https://0251.0376.0251.0376/latest/meta-data/", "metadata IP in octal"),
    ("https://169.254.170.2/v2/credentials", "ECS task credentials endpoint"),
    # metadata and internal names
    ("https://metadata.google.internal/computeMetadata/v1/", "a cloud metadata name"),
    ("https://metadata/", "a single-label internal name"),
    ("https://localhost/", "localhost"),
    # look-alike domains
    ("https://bucket.s3.amazonaws.com-evil.example/", "trusted name glued to another domain"),
    ("https://amazonaws.com.cn.evil.example/", "trusted China domain as a prefix"),
    ("https://bucket.s3amazonaws.com/", "missing dot before the trusted domain"),
    ("https://bucket.s3.amazonaws.c\u043em/", "Cyrillic o (homograph)"),
    ("https://bucket.s3.amazonaws.com.evil.example./", "trusted name as a prefix, trailing dot"),
    # user info, fragment and query tricks: the host connected to is evil.example
    ("https://amazonaws.com@evil.example/", "trusted domain as user info"),
    ("https://bucket.s3.amazonaws.com@evil.example/", "trusted host as user info"),
    ("https://bucket.s3.amazonaws.com:443@evil.example/", "trusted host and port as user info"),
    ("https://evil.example#@bucket.s3.amazonaws.com/", "trusted host after a fragment"),
    ("https://evil.example?@bucket.s3.amazonaws.com/", "trusted host after a query"),
    ("https://evil.example/https://bucket.s3.amazonaws.com/", "trusted link as a path"),
    ("https://bucket.s3.amazonaws.com%00.evil.example/", "encoded NUL in the host"),
    # schemes and malformed links
    ("HTTP://bucket.s3.amazonaws.com/k", "plain http, upper case"),
    ("file://bucket.s3.amazonaws.com/etc/passwd", "file with a trusted host"),
    ("gopher://bucket.s3.amazonaws.com/", "gopher"),
    ("data:text/plain,hello", "data"),
    ("//bucket.s3.amazonaws.com/k", "scheme-relative"),
    ("https:bucket.s3.amazonaws.com/k", "no slashes"),
]


@pytest.mark.parametrize(("url", "why"), SSRF_LINKS)
def test_deployed_policy_refuses_ssrf_targets(deployed_policy: DownloadLinkPolicy, url: str, why: str) -> None:
    with pytest.raises(DisallowedLinkError):
        deployed_policy.check(url)


class _NoNetwork(urllib3.PoolManager):
    """A pool that fails the test if anything is requested through it."""

    # Same signature as PoolManager.urlopen, which urllib3 itself marks as an override mismatch.
    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> BaseHTTPResponse:
        raise AssertionError(f"the copy step requested {origin(url)} although the link is not allowed")


def copy_link(link: str, *, setting: str = DEFAULT_DOWNLOAD_ALLOWLIST, http: urllib3.PoolManager | None = None) -> Any:
    """Run the copy step on one link. S3 is ``None``: every case here must fail before anything is written."""
    return archive_download(
        fetch_link=lambda: link,
        s3=None,
        bucket="archive",
        key="quicksight/x.qs",
        content_type="application/zip",
        policy=DownloadLinkPolicy.from_setting(setting),
        part_size=5 * 1024 * 1024,
        max_parts_in_flight=1,
        max_link_refreshes=0,
        connect_timeout=2.0,
        read_timeout=2.0,
        http=http,
    )


@pytest.mark.parametrize(("url", "why"), [SSRF_LINKS[i] for i in (0, 2, 3, 7, 15, 18, 22, 23)])
def test_the_copy_step_sends_no_request_for_a_refused_link(url: str, why: str) -> None:
    # Given a service answer whose link points somewhere it must not
    # When the copy step gets it
    # Then it refuses before a single request is made
    with pytest.raises(DisallowedLinkError):
        copy_link(url, http=_NoNetwork())


# -- redirects are never followed, wherever they point ------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's path and answers ``status`` with a ``Location`` (set per test on a subclass)."""

    requests: list[str]
    status: int
    location: str

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(self.status)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(requests: list[str], *, status: int = 200, location: str = "") -> Iterator[int]:
    handler = type("Handler", (_Recorder,), {"requests": requests, "status": status, "location": location})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target_host", ["localhost", "127.0.0.1"], ids=["disallowed-host", "allowed-host"])
def test_a_redirect_is_never_followed(status: int, target_host: str) -> None:
    # Given an allowed download host that redirects, and a second host that records what reaches it
    first: list[str] = []
    reached: list[str] = []
    with serving(reached) as target_port:
        location = f"http://{target_host}:{target_port}/latest/meta-data/?X-Amz-Signature=stolen"
        with (
            serving(first, status=status, location=location) as source_port,
            pytest.raises(DownloadFailedError, match=f"HTTP {status}") as failed,
        ):
            # When the copy step fetches the allowed link
            copy_link(f"http://127.0.0.1:{source_port}/bundle.qs?X-Amz-Signature=s", setting="http://127.0.0.1")

    # Then the redirect fails the copy, and nothing ever reaches the redirect's target
    assert len(first) == 1
    assert reached == []
    assert "X-Amz-Signature" not in str(failed.value) and "meta-data" not in str(failed.value)
