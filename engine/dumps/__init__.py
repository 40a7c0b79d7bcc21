"""keepalived's runtime dumps: SIGUSR1 data, SIGUSR2 stats, SIGJSON JSON.

Existing exporters (mehdy/keepalived-exporter) and runbooks read these
files, so they are written in keepalived 2.2.7's formats, to its paths.

* ``facts``   — what the running engine knows, gathered into plain frozen
  dataclasses (the only module here that looks at the engine).
* ``data``    — ``keepalived.data`` (VRRP), ``keepalived_check.data``
  (virtual servers and checkers) and ``keepalived_parent.data``.
* ``stats``   — ``keepalived.stats`` and keepalived's per-instance counters.
* ``jsondump``— ``keepalived.json``.
* ``paths``   — where each file goes (``TMPDIR``, ``state_file_location``,
  ``stats_file_location``, ``json_file_location``, ``data_use_instance``).
* ``writer``  — atomic writes; a full disk or a permission error is
  reported, never fatal.

The renderers are pure: ``render(config, facts) -> str``.  Secrets that
keepalived prints (the VRRP password, the SSL key password) are written
as ``********`` — the key stays, so parsers keep working, the value never
leaves the process.
"""
