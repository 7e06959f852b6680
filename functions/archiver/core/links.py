"""Which download links the archiver fetches, and how a link may appear in logs and errors.

QuickSight and Q Apps hand out presigned URLs: the query string is a bearer credential, so
it never reaches a log line or an exception message. Only links whose scheme and host are
on the ``DOWNLOAD_ALLOWLIST`` are fetched; anything else (an internal address, a look-alike
domain, a ``file://`` link) is refused before a single byte is requested.

The allowlist's grammar lives here only (``parse_allowlist``): the stack validates the
``downloadAllowlist`` context key with it at synth, so a setting that synthesizes is one every
copy step accepts, and the other way round.

Links are parsed with urllib3's parser on purpose: it is the parser that later opens the
connection, so the host checked here is the host connected to (``urllib.parse`` disagrees
with it on inputs such as ``https://evil.example\\@bucket.s3.amazonaws.com/``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TypeAlias

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from archiver.core.errors import ConfigurationError, DisallowedLinkError

SETTING_NAME = "DOWNLOAD_ALLOWLIST"

_SCHEMES = frozenset({"http", "https"})
# What an allowlist entry may be, said in every refusal (README, "Download links").
ALLOWLIST_GRAMMAR = (
    "https://host, https://*.domain (at least two labels after '*.') or https://<IP address>; "
    "http:// only for a loopback address such as http://127.0.0.1 (local runs); no port, path or user info"
)
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ENTRY = re.compile(r"(?P<scheme>[^:/?#]+)://(?P<wildcard>\*\.)?(?P<host>\[[^\]/]*\]|[^:/?#@\[\]]*)/?")
# Whitespace and control characters have no place in a presigned URL; refusing them up front
# rules out request smuggling through a link.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")

IpAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AllowedOrigin:
    """One allowlist entry: a scheme and an exact host, IP literal or ``*.domain`` pattern."""

    scheme: str
    host: str
    wildcard: bool = False

    def allows(self, scheme: str, host: str) -> bool:
        """Tell whether a link's (already normalised) scheme and host match this entry."""
        if scheme != self.scheme:
            return False
        if self.wildcard:
            # The host was validated label by label, so whatever precedes the suffix is one
            # or more whole labels: "evilamazonaws.com" cannot match "*.amazonaws.com".
            return host.endswith("." + self.host)
        return host == self.host

    def __str__(self) -> str:
        # An IPv6 literal is written in brackets, so that the entry reads back as itself.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{'*.' if self.wildcard else ''}{host}"


@dataclass(frozen=True)
class DownloadLinkPolicy:
    """The origins download links may point at."""

    origins: tuple[AllowedOrigin, ...]

    @classmethod
    def from_setting(cls, setting: str) -> DownloadLinkPolicy:
        """Parse the ``DOWNLOAD_ALLOWLIST`` setting.

        Parameters
        ----------
        setting
            Comma-separated entries in the grammar of ``parse_allowlist``, for example
            ``https://*.amazonaws.com,https://*.amazonaws.com.cn``.

        Returns
        -------
        DownloadLinkPolicy
            The policy allowing exactly those origins.

        Raises
        ------
        ConfigurationError
            The setting is empty or an entry is not a valid origin.
        """
        try:
            return cls(parse_allowlist(setting))
        except InvalidAllowlistError as error:
            raise ConfigurationError(f"{SETTING_NAME} {error}") from None

    def check(self, url: str) -> None:
        """Refuse a link unless its scheme and host are allowed.

        Parameters
        ----------
        url
            A download link, typically presigned. It is never echoed back: error messages
            name only its scheme and host.

        Raises
        ------
        DisallowedLinkError
            The link is malformed, carries user info, has no host, or its scheme and host
            match no allowlist entry.
        """
        link = _parse_link(url)
        scheme, host = link.scheme or "", _normalise_link_host(link.host)
        if not any(origin.allows(scheme, host) for origin in self.origins):
            raise DisallowedLinkError(
                f"Download link to {scheme}://{host} is not allowed by {SETTING_NAME}; it was not fetched"
            )


def redact(url: str) -> str:
    """Return a link fit for logs: scheme, host, port and path, without query or user info.

    Parameters
    ----------
    url
        Any link, presigned or not.

    Returns
    -------
    str
        ``scheme://host[:port]/path``, or a placeholder when the link cannot be parsed.
    """
    link = _parsed_or_none(url)
    if link is None:
        return _UNPARSEABLE
    port = f":{link.port}" if link.port is not None else ""
    return f"{link.scheme or ''}://{link.host or ''}{port}{link.path or ''}"


def origin(url: str) -> str:
    """Return ``scheme://host`` of a link, the most an error message may say about it.

    Parameters
    ----------
    url
        Any link, presigned or not.

    Returns
    -------
    str
        The link's scheme and host, or a placeholder when the link cannot be parsed.
    """
    link = _parsed_or_none(url)
    if link is None:
        return _UNPARSEABLE
    return f"{link.scheme or ''}://{link.host or ''}"


_UNPARSEABLE = "<unparseable link>"


def _parsed_or_none(url: str) -> Url | None:
    """``url`` parsed for a log line or an error message: never raises, since it only describes a link."""
    try:
        return parse_url(url)
    except LocationParseError:
        return None


class InvalidAllowlistError(ValueError):
    """An allowlist setting that is empty or has an entry outside ``ALLOWLIST_GRAMMAR``.

    The message starts with what is wrong ("entry 'x' is not ..."); the caller prefixes the name
    of the setting it read (``DOWNLOAD_ALLOWLIST`` at run time, the context key at synth).
    """


def parse_allowlist(setting: str) -> tuple[AllowedOrigin, ...]:
    """Parse a comma-separated allowlist: the one grammar of synth and run time.

    Parameters
    ----------
    setting
        Entries separated by commas (blank entries are skipped): ``https://host``, ``https://*.domain``
        (``*.`` matches one or more DNS labels, and at least two labels must follow it: ``*.com`` would
        trust a whole public suffix), ``https://`` and an IP literal (matching only itself), or ``http://``
        and a loopback address: the local runner's emulator serves plain http on 127.0.0.1, while a
        deployed copy step must never send a presigned link in clear text. No port, path or user info:
        ports are ignored when links are matched, so a port in an entry would promise what is not checked.

    Returns
    -------
    tuple[AllowedOrigin, ...]
        The origins, in the setting's order.

    Raises
    ------
    InvalidAllowlistError
        The setting is empty or an entry is outside the grammar.
    """
    entries = [entry.strip() for entry in setting.split(",")]
    origins = tuple(_parse_entry(entry) for entry in entries if entry)
    if not origins:
        raise InvalidAllowlistError("is empty: no download link could ever be fetched")
    return origins


def _parse_entry(entry: str) -> AllowedOrigin:
    invalid = InvalidAllowlistError(f"entry {entry!r} is not one of: {ALLOWLIST_GRAMMAR}")
    match = _ENTRY.fullmatch(entry)
    if match is None:
        raise invalid
    scheme = match["scheme"].lower()
    host = match["host"].lower()
    if scheme not in _SCHEMES:
        raise invalid
    address = _ip_literal(host)
    if scheme == "http" and (match["wildcard"] or address is None or not address.is_loopback):
        raise invalid
    if match["wildcard"]:
        # "*.com" would allow any host on a public suffix; a trusted domain has two labels or more.
        if address is not None or not _is_dns_name(host) or "." not in host:
            raise invalid
        return AllowedOrigin(scheme, host, wildcard=True)
    if address is not None:
        return AllowedOrigin(scheme, address.compressed)
    if not _is_dns_name(host):
        raise invalid
    return AllowedOrigin(scheme, host)


def _parse_link(url: str) -> Url:
    if _UNSAFE_CHARACTERS.search(url):
        raise DisallowedLinkError("Download link contains whitespace or control characters; it was not fetched")
    try:
        link = parse_url(url)
    except LocationParseError:
        # The parser's message quotes the link: say nothing about it.
        raise DisallowedLinkError("Download link cannot be parsed; it was not fetched") from None
    scheme = link.scheme or ""
    if scheme not in _SCHEMES:
        shown = scheme if re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) else "?"
        raise DisallowedLinkError(f"Download link scheme {shown!r} is not http or https; it was not fetched")
    if link.auth is not None:
        raise DisallowedLinkError(
            f"Download link to {scheme}://{link.host or ''} carries user info; it was not fetched"
        )
    if not link.host:
        raise DisallowedLinkError(f"Download link {scheme}:// has no host; it was not fetched")
    return link


def _normalise_link_host(host: str | None) -> str:
    """Lower-case a link's host; IP literals in compressed form; anything odd is refused."""
    host = (host or "").lower()
    address = _ip_literal(host)
    if address is not None:
        return address.compressed
    # One trailing dot names the same DNS host; more than that, or empty labels, do not.
    name = host.removesuffix(".")
    if not _is_dns_name(name):
        raise DisallowedLinkError("Download link host is not a valid DNS name or IP address; it was not fetched")
    return name


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _is_dns_name(host: str) -> bool:
    return 0 < len(host) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in host.split("."))
