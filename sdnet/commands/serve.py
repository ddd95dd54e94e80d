"""``sdnet serve MODEL``: the flight simulator, a local page to explore a model and play a game.

Listens on 127.0.0.1 (this machine only) unless ``--host`` names another address, which also
needs ``--public`` and prints a warning: the simulator has no login, and anyone who can reach
the address can run the model.
"""

from __future__ import annotations

import argparse
import sys
import warnings

HELP = "serve the flight simulator: sliders, live charts and a policy game in the browser"
ORDER = 75
DESCRIPTION = """\
Serve one self-contained page (nothing is loaded from the internet) with
  Explore  a slider per lever and region descriptor, live charts of the outcomes,
           saved scenarios side by side, uncertainty fans, a CSV download
  Game     set the levers every few years; at the end, your score against the best and
           the typical simple policy in the same plausible worlds
The fan's worlds are the parameter sets of nonimplausible.csv beside the model when present,
else a Latin-hypercube sample of the [uncertain] parameters' declared ranges.
Stop the server with Ctrl+C.
"""
EPILOG = """examples:
  sdnet serve models/flexnet/flexnet.mdl                  # then open http://127.0.0.1:8050/
  sdnet serve models/flexnet/flexnet.mdl --port 9000 --worlds 200
  sdnet serve models/flexnet/flexnet.mdl --host 0.0.0.0 --public   # a classroom network
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet serve``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument("--card", metavar="CARD",
                        help="model card (.toml); default: the .toml named like the model, "
                        "if any")
    parser.add_argument("--port", type=int, default=8050, metavar="P",
                        help="port (default 8050; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--public", action="store_true",
                        help="allow a --host other machines can reach (prints a warning)")
    parser.add_argument("--worlds", type=int, default=100, metavar="N",
                        help="plausible worlds of the fans and the game's score (default 100)")
    parser.add_argument("--seed", type=int, default=20261126,
                        help="seed of the Latin-hypercube worlds")
    parser.add_argument("--game-period", type=float, default=2.0, metavar="YEARS",
                        help="years between two decisions in the game (default 2)")


def run(args: argparse.Namespace) -> int:
    """Build the simulator and serve it until interrupted."""
    from sdnet.errors import InvalidValueError
    from sdnet.serve import build_app, is_loopback, make_server

    if not 0 <= args.port <= 65535:
        raise InvalidValueError("--port", args.port, expected="a port number from 0 to 65535")
    if not 1 <= args.worlds <= 5000:
        raise InvalidValueError("--worlds", args.worlds, expected="a number from 1 to 5000")
    if not 0 < args.game_period <= 10:
        raise InvalidValueError("--game-period", args.game_period,
                                expected="years, more than 0 and at most 10")
    if not is_loopback(args.host) and not args.public:
        raise InvalidValueError("--host", args.host, expected="a loopback address such as "
                                "127.0.0.1, or add --public to let other machines connect")
    app = build_app(args.model, card=args.card, n_worlds=args.worlds, seed=args.seed,
                    game_period=args.game_period, data_files=args.data)
    # Draw (or read and check) the plausible worlds now: a bad nonimplausible.csv ends the
    # command with its error, and the first fan does not wait for the sampler.
    worlds = app.worlds()
    if not is_loopback(args.host):
        warnings.warn(f"listening on {args.host}: any machine that can reach this address can "
                      "use the simulator (there is no login); stop it when the class is over",
                      stacklevel=1)
    try:
        server = make_server(app, host=args.host, port=args.port, public=args.public)
    except OSError as error:
        raise InvalidValueError("--port", args.port,
                                expected=f"a free port ({error.strerror}); try --port 0") from None
    host, port = server.server_address[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"sdnet serve: {app.setup.title} at http://{shown}:{port}/ (Ctrl+C stops it)\n"
          f"  uncertainty: {worlds.n} worlds, {worlds.source}", file=sys.stdout, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
