"""``startup_script`` and ``shutdown_script``: the daemon's own scripts.

keepalived (core/main.c) runs the startup script once, after reading the
configuration and writing its pid file but before anything else starts
(no VRRP, no checker, no address touched), and waits for it; the shutdown
script once, after everything has stopped cleanly (masters resigned,
addresses and IPVS removed), before the process exits.  Each is bounded by
its ``*_script_timeout`` (default 10 s): then the script's process group
gets SIGTERM, and SIGKILL 2 s later.  A script that fails, hangs or cannot
run is logged and the daemon goes on -- a broken start-up script must not
keep VIPs from being served, nor a broken shutdown script keep the daemon
from exiting.  Typical use: the firewall marks or iptables chains IPVS and
vrrp_iptables rely on, made before and removed after.
"""

from __future__ import annotations

import logging

from vipdeck.engine.config.model import GlobalDefs
from vipdeck.engine.notify.scripts import run_notify
from vipdeck.engine.track.runner import ScriptResult, ScriptRunner

log = logging.getLogger("vipdeck.daemon")


async def run_script(which: str, gd: GlobalDefs, *, runner: ScriptRunner | None = None) -> ScriptResult | None:
    """Run ``which`` ("startup" or "shutdown") if configured; never raises.
    None: there is no such script."""
    notify = gd.startup_script if which == "startup" else gd.shutdown_script
    if notify is None:
        return None
    timeout = gd.startup_script_timeout if which == "startup" else gd.shutdown_script_timeout
    after = "starting anyway" if which == "startup" else "exiting anyway"
    log.info("Running %s script %s", which, notify.command)
    result = await run_notify(notify, (), gd, runner=runner, timeout=timeout)
    if result.ok:
        log.info("%s_script %s succeeded in %.3f s", which, notify.command, result.duration)
    elif result.timed_out:
        log.warning("%s_script %s did not finish within its %g s timeout: killed; %s", which, notify.command,
                    timeout, after)
    elif result.error:
        log.warning("%s_script %s could not run: %s; %s", which, notify.command, result.error, after)
    elif result.signal is not None:
        log.warning("%s_script %s failed (due to signal %d); %s", which, notify.command, result.signal, after)
    else:
        log.warning("%s_script %s failed (exited with status %s); %s", which, notify.command,
                    result.exit_status, after)
    return result
