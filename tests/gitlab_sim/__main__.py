"""Run the simulator: ``python -m tests.gitlab_sim --port 0 --seed seed.yml``.

The first line on stdout is the base URL, printed once the socket listens.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from werkzeug.serving import make_server

from .control import Simulator, create_wsgi_app
from .state import SeedError, load_seed_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gitlab_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--seed", help="YAML or JSON file with the initial state")
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    try:
        sim = Simulator(load_seed_file(args.seed) if args.seed else None)
    except (OSError, SeedError) as exc:
        print(f"gitlab_sim: cannot load the seed: {exc}", file=sys.stderr)
        return 2

    logging.getLogger("werkzeug").setLevel(logging.INFO if args.log_requests else logging.WARNING)
    # make_server binds and listens, so the URL is printed only once connections are accepted.
    server = make_server(args.host, args.port, create_wsgi_app(sim), threaded=True)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"http://{host}:{server.server_port}", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
