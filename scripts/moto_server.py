"""Runs moto's server like `moto_server`, but single-threaded.

`moto_server` (moto 5.x) always serves with `threaded=True` and has no flag
to turn that off. Moto's DynamoDB backend evaluates condition expressions and
applies writes without a lock, so two concurrent conditional writes can both
succeed and one update is lost. Serving one request at a time makes every
request atomic, as DynamoDB's conditional writes and transactions are.
(With threading off, werkzeug answers with HTTP/1.0 and closes the connection
after each response, so an idle keep-alive client never blocks the others.)

Usage: python scripts/moto_server.py HOST PORT
"""

import os
import signal
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        app,
        threaded=False,
        processes=1,
        use_reloader=False,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
