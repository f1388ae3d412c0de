"""Command line: ``fortifai run NOTEBOOK [-p KEY VALUE]... [-f PARAMS.yaml] [-o DIR]`` and ``fortifai list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .runner import ParameterError, list_notebooks, parse_value, read_parameters, run_notebook


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fortifai", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute a notebook with parameters (jupytext + papermill)")
    run.add_argument("notebook", type=Path, help="a notebook source, e.g. notebooks/gaussian_variance.py")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="a parameter; VALUE is read as YAML (30, 0.9, null, '[null, 0.85]', text)")
    run.add_argument("-f", "--parameters-file", type=Path, help="a YAML file of parameters (-p wins over it)")
    run.add_argument("-o", "--output-dir", type=Path, help="where to write (default results/NAME/RUN-NAME)")
    run.add_argument("-n", "--name", help="run name for the default output folder")
    run.add_argument("--no-progress", action="store_true", help="no papermill progress bar")
    commands.add_parser("list", help="list every notebook with its parameters and defaults")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        for notebook in list_notebooks():
            print(notebook.relative_to(notebook.parent.parent))
            for param in read_parameters(notebook).values():
                print(f"    {param.describe()}")
        return 0
    given: dict = {}
    try:
        if args.parameters_file is not None:
            if not args.parameters_file.is_file():
                raise ParameterError(f"parameters file not found: {args.parameters_file}")
            loaded = yaml.safe_load(args.parameters_file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ParameterError(f"{args.parameters_file} must hold a mapping of parameter names to values")
            given.update(loaded)
        given.update({key: parse_value(value) for key, value in args.parameter})
        run_notebook(args.notebook, given, output_dir=args.output_dir, name=args.name, progress=not args.no_progress)
    except (ParameterError, FileNotFoundError) as error:
        print(f"fortifai run: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
