"""``python -m localnova`` -> :func:`localnova.cli.main`."""

from localnova.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
