"""``python -m lgsp.cli``: the ``lgsp`` command without its script."""

from lgsp.cli import main

main()
