"""`python -m medgan` runs the command-line interface."""

from medgan.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
