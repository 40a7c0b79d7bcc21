"""A real OpenSSH server in a lab node, for the ssh:// peers' tests.

Debian's openssh-server, started in the node's namespace with ``-D -f`` on
a config of its own (its own port, a throwaway host key, one authorised
user key, no passwords, no PAM), all in a temporary directory the lab
removes.  The client side gets the matching options: that user key, a
known_hosts file with the host key pinned, and ``-F /dev/null`` so the
running user's ~/.ssh/config cannot change what is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from vipdeck.engine.lab.peers import read_log
from vipdeck.engine.lab.wait import wait_until
from tests.support.paths import require

SSHD = "/usr/sbin/sshd"


def require_openssh() -> None:
    require(os.path.exists(SSHD), "needs openssh-server (/usr/sbin/sshd)")
    require(shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None,
            "needs openssh-client (ssh, ssh-keygen)")


@dataclass
class Sshd:
    node: object
    address: str
    port: int
    dir: str
    user_key: str
    known_hosts: str
    log_path: str
    proc: subprocess.Popen

    def client_options(self, key: str | None = None) -> list[str]:
        """What ssh needs to reach this server and nothing else."""
        return ["-F", "/dev/null", "-i", key or self.user_key, "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=5"]

    def log(self) -> str:
        return read_log(self.log_path)


def _keygen(path: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vipdeck-lab", "-f", path],
                   check=True, capture_output=True)


def start_sshd(node, port: int = 2222) -> Sshd:
    """sshd listening on ``node``'s first address, root allowed by key only."""
    require_openssh()
    wd = tempfile.mkdtemp(prefix=f"{node.netns}-sshd-")
    node.lab.on_close(lambda: shutil.rmtree(wd, ignore_errors=True))
    os.chmod(wd, 0o700)
    host_key, user_key = os.path.join(wd, "host_key"), os.path.join(wd, "user_key")
    _keygen(host_key)
    _keygen(user_key)
    auth = os.path.join(wd, "authorized_keys")
    shutil.copy(user_key + ".pub", auth)
    known = os.path.join(wd, "known_hosts")
    with open(host_key + ".pub") as f:
        kind, blob = f.read().split()[:2]
    with open(known, "w") as f:
        f.write(f"[{node.ip}]:{port} {kind} {blob}\n")
    # sshd insists on its privilege separation directory; made only if missing, removed again then
    privsep = "/run/sshd"
    if not os.path.isdir(privsep):
        os.makedirs(privsep, mode=0o755)
        node.lab.on_close(lambda: shutil.rmtree(privsep, ignore_errors=True))
    conf = os.path.join(wd, "sshd_config")
    with open(conf, "w") as f:
        f.write("\n".join([
            f"ListenAddress {node.ip}:{port}", f"HostKey {host_key}", f"AuthorizedKeysFile {auth}",
            f"PidFile {os.path.join(wd, 'sshd.pid')}", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PrintMotd no", "LogLevel VERBOSE", "",
        ]))
    log_path = os.path.join(wd, "sshd.log")
    logf = open(log_path, "w")
    proc = node.popen(SSHD, "-D", "-e", "-f", conf, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    s = Sshd(node, node.ip, port, wd, user_key, known, log_path, proc)
    wait_until(lambda: "Server listening" in s.log() or proc.poll() is not None, 10, what="sshd listening")
    if proc.poll() is not None:
        raise RuntimeError(f"sshd exited at start:\n{s.log()}")
    return s
