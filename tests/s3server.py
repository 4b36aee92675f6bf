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
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
                      AWS_DEFAULT_REGION="us-east-1")
    return server, endpoint
