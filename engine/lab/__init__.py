"""Self-built network labs: namespaces, a bridge, veth pairs, real peers.

Used by the demo, the screenshot script and the test suite (whose referee
sniffer is tests/support/sniffer.py); uml.py boots user-mode Linux for
kernel IPVS (the uml tier, and issue 11's screenshots in a guest).  Everything a lab
creates lives in namespaces whose names carry a per-run prefix, and
``Lab.close()`` removes all of it (processes first, then namespaces), so a
failed test never leaves anything behind in the root namespace.
"""

from vipdeck.engine.lab.netns import Lab, Node, run_prefix, socket_in_netns  # noqa: F401
from vipdeck.engine.lab.wait import wait_until  # noqa: F401
