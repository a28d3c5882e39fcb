"""The ``dalle-nb`` command: ``serve`` the offline API, ``demo`` the quickstart, ``models``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from .models import PROFILES


def _serve(args: argparse.Namespace) -> int:
    from .offline import OfflineServer, ServerOptions

    try:
        options = ServerOptions.from_env(
            profile=args.profile,
            seed=args.seed,
            latency=args.latency,
            faults=",".join(args.fault) if args.fault else None,
            api_key=args.api_key,
            url_ttl=args.url_ttl,
        )
    except ValueError as exc:
        print(f"dalle-nb serve: {exc}", file=sys.stderr)
        return 2
    server = OfflineServer(options, host=args.host, port=args.port)
    faults = ", ".join(f"{f.kind}:{f.rate:g}" for f in options.faults) or "none"
    print(f"dalle_nb offline Images API on {server.base_url}  (profile={options.profile}, faults={faults})")
    key_hint = "<the key>" if args.api_key else "offline"
    print(f"Use it:  export OPENAI_BASE_URL={server.base_url}  OPENAI_API_KEY={key_hint}")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models import MODELS

    for spec in MODELS.values():
        status = f"retired {spec.retired_on}" if spec.retired else "active"
        endpoints = ",".join(spec.endpoints)
        print(f"{spec.id:36} {status:20} {endpoints:30} n<={spec.n_max:<3} quality={'/'.join(spec.qualities)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dalle-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the offline OpenAI-compatible Images API server")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    serve.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="compat: also serve retired models and variations (default); openai: answer as OpenAI does",
    )
    serve.add_argument("--seed", type=int, default=None, help="changes every picture, deterministically")
    serve.add_argument("--latency", type=float, default=None, metavar="SECONDS", help="added to each image request")
    serve.add_argument(
        "--fault",
        action="append",
        metavar="KIND:RATE",
        help="inject failures: 429, 500, 503, timeout, reset, drop, garbage (repeatable)",
    )
    serve.add_argument("--api-key", default=None, help="require this bearer key")
    serve.add_argument(
        "--url-ttl", type=float, default=None, metavar="SECONDS", help="how long legacy image URLs live (default 3600)"
    )
    serve.set_defaults(func=_serve)

    models = sub.add_parser("models", help="print the model capability table")
    models.set_defaults(func=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
