"""`vipdeck install-unit`: put vipdeck.service where systemd looks for local units.

The unit ships inside the package (``vipdeck/share/systemd/vipdeck.service``)
with ``@VIPDECK@`` where the command goes; this writes it with the path of
the vipdeck being run (``/usr/local/sbin/vipdeck`` after the README's
install), writes ``/etc/default/vipdeck`` when there is none (an existing
one is the operator's and is never touched), and reloads systemd.  It does
not enable or start the service: on a node where keepalived runs, starting
vipdeck stops keepalived (``Conflicts=``), and that is the operator's call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources

UNIT = "vipdeck.service"
DEFAULTS = """\
# Options for vipdeck.service (read by systemd as an EnvironmentFile).
# VIPDECK_OPTIONS are added to `vipdeck daemon`; see vipdeck(8).  Examples:
#   -D                          detailed logging
#   -S 3                        also log to syslog facility local3 (as keepalived -S 3)
#   --metrics 127.0.0.1:9650    Prometheus metrics on http://127.0.0.1:9650/metrics
#   --socket-group vipdeck      members of group vipdeck may read status (root alone may change)
VIPDECK_OPTIONS=""
"""


def add_arguments(p) -> None:
    p.add_argument("--dest", default="/etc/systemd/system", metavar="DIR",
                   help="where to write vipdeck.service (default /etc/systemd/system)")
    p.add_argument("--exec", dest="exe", default=None, metavar="PATH",
                   help="the vipdeck command the unit runs (default: /usr/local/sbin/vipdeck when it is "
                        "this vipdeck, else this one's own path)")
    p.add_argument("--defaults", default="/etc/default/vipdeck", metavar="FILE",
                   help="options file, written only when missing (default /etc/default/vipdeck)")
    p.add_argument("--print", dest="show", action="store_true", help="print the unit instead of writing it")
    p.add_argument("--no-reload", action="store_true", help="do not run `systemctl daemon-reload`")


def template() -> str:
    return resources.files("vipdeck").joinpath("share/systemd", UNIT).read_text()


def render(exe: str) -> str:
    if not os.path.isabs(exe):
        raise ValueError(f"{exe}: the unit needs an absolute path")
    return template().replace("@VIPDECK@", exe)


def this_vipdeck() -> str | None:
    """The path of the `vipdeck` command that is running now."""
    here = os.path.realpath(os.path.join(os.path.dirname(sys.executable), "vipdeck"))
    for candidate in ("/usr/local/sbin/vipdeck", shutil.which("vipdeck")):
        if candidate and os.path.realpath(candidate) == here:
            return candidate
    return here if os.access(here, os.X_OK) else None


def run(args) -> int:
    exe = args.exe or this_vipdeck()
    if exe is None:
        print("vipdeck install-unit: cannot tell where the vipdeck command is; give --exec PATH", file=sys.stderr)
        return 2
    try:
        unit = render(exe)
    except ValueError as exc:
        print(f"vipdeck install-unit: --exec {exc}", file=sys.stderr)
        return 2
    if args.show:
        sys.stdout.write(unit)
        return 0
    path = os.path.join(args.dest, UNIT)
    try:
        os.makedirs(args.dest, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(unit)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        print(f"wrote {path} (runs {exe})")
        if args.defaults and not os.path.exists(args.defaults):
            os.makedirs(os.path.dirname(args.defaults) or ".", exist_ok=True)
            with open(args.defaults, "w") as f:
                f.write(DEFAULTS)
            print(f"wrote {args.defaults}")
    except OSError as exc:
        print(f"vipdeck install-unit: {exc.filename or path}: {exc.strerror}", file=sys.stderr)
        return 1
    if not args.no_reload and os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    print("next: vipdeck check -f /etc/keepalived/keepalived.conf && systemctl enable --now vipdeck")
    return 0
