"""``python -m pytorrent.cli`` runs the ``pytorrent`` command."""

from pytorrent_core.cli import main

if __name__ == "__main__":
    main()
