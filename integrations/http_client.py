"""The HTTP client every adapter makes when it is given none: httpx's, with this process's
one TLS context.

httpx builds a TLS context for each client it makes (the CA bundle loaded and parsed
again: about 1.2 MB each). A pool process holds a client for each post-office account it
has sent for, the one-stop's and the notifier's: with `make demo`'s three accounts, five
contexts of the same bundle. They verify alike (httpx's default: certifi's bundle, or
SSL_CERT_FILE / SSL_CERT_DIR when set), so one is made per process, by httpx's own
function, at its first client, and shared between its clients and threads: what httpcore
sets on it for each new connection (the ALPN protocols) is the same for every client here,
none of which speaks HTTP/2.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def new_client(timeout: float) -> httpx.Client:
    """A client with httpx's defaults and `timeout`, on the process's shared TLS context."""
    return httpx.Client(timeout=timeout, verify=_tls())
