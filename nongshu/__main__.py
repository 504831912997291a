"""``python -m nongshu`` is the same as the ``nongshu`` command."""

from nongshu.cli import main

main()
