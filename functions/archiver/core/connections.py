"""The HTTP connections the archiver opens itself, beside the AWS SDK's.

Three kinds of request leave a step over plain urllib3: a presigned download (the copy), a Q Apps
file upload (a presigned S3 POST) and the archive user's token request. Each is one request at a
time, never retried here (the state machine owns retries), and each names a failure only by its
class: urllib3's messages may quote the URL, a presigned link's credentials included.
"""

from __future__ import annotations

import http.client

import urllib3

# What urllib3 or the standard library may raise while a request is sent, or a response opened or read.
NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def connection_pool(*, hosts: int = 1) -> urllib3.PoolManager:
    """A pool of one connection per host (every request here is sequential), certificates verified."""
    return urllib3.PoolManager(num_pools=hosts, maxsize=1, cert_reqs="CERT_REQUIRED")
