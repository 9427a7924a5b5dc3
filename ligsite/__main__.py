"""``python -m ligsite``: the same CLI as the ``ligsite`` console script."""

from ligsite.cli import main

main()
