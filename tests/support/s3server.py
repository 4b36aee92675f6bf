"""A real S3-API server (moto's) on loopback, for the tests and the benchmarks."""

from __future__ import annotations

import logging
import os
import socket


def start_moto(access_key: str, secret_key: str):
    """Start moto's server on a free loopback port and point this process's AWS_* variables at it.

    Returns (server, endpoint URL); ``server.stop()`` stops it.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    server.log = RequestLog(server._server.app)
    server._server.app = server.log  # werkzeug calls the server's app at every request
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
                      AWS_DEFAULT_REGION="us-east-1")
    return server, endpoint


class RequestLog:
    """WSGI middleware in front of moto: every request it served, as (method, path, bytes of the response),
    e.g. to count what the cluster read from a bucket (the actors' requests included)."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[str, str, int]] = []

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")

        def start(status, headers, exc_info=None):
            size = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
            self.requests.append((method, path, size))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def object_reads(self, prefix: str) -> list[tuple[str, str, int]]:
        """The GETs of objects under ``prefix`` (``/bucket/key...``; listings are GETs of the bucket itself)."""
        return [r for r in self.requests if r[0] == "GET" and r[1].startswith(prefix)]
