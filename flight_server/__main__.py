"""``python -m flight_server serve|user ...`` (the same commands as ``raise serve|user``)."""
import sys

from flight_server.cli import main

sys.exit(main())
