"""`vipdeck generate-docs` (hidden): the man page and shell completions, from the argparse tree.

One source: the parser ``vipdeck.cli.build_parser()`` builds is what
``--help`` prints, and this module walks the same tree to write

* ``vipdeck/share/man/vipdeck.8``           vipdeck(8), roff (man(7) macros)
* ``vipdeck/share/bash-completion/vipdeck`` bash completion (plain ``complete -F``,
                                             no bash-completion helpers needed)
* ``vipdeck/share/zsh/_vipdeck``            zsh completion (``_arguments``)
* ``docs/metrics.md``                        the metrics page, from engine.metrics' catalogue
* ``docs/schema/vipdeck-control-v1.json``    the control API's JSON Schema, from engine.control.schema
                                             (both from a source checkout only)

The output depends on nothing but the parser (no date, no terminal width,
no installed version), so ``tests/unit/test_docs_generated.py`` can insist
that the checked-in files equal a fresh generation.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SHARE = Path(__file__).resolve().parent.parent / "share"
OUTPUTS = {"man": "man/vipdeck.8", "bash": "bash-completion/vipdeck", "zsh": "zsh/_vipdeck"}

# metavars whose values are files or directories, for the completions
FILE_METAVARS = {"FILE", "PATH"}
DIR_METAVARS = {"DIR"}


def add_arguments(p) -> None:
    p.add_argument("--check", action="store_true", help="exit 1 if a checked-in file is out of date")
    p.add_argument("--out", default=str(SHARE), metavar="DIR", help="where to write (default: the package's share/)")


@dataclass
class Option:
    flags: list[str]
    metavar: str | None          # None: a flag without a value
    choices: list[str] | None
    help: str


@dataclass
class Positional:
    name: str
    optional: bool
    help: str


@dataclass
class Command:
    name: str
    summary: str
    options: list[Option]
    positionals: list[Positional]
    examples: list[tuple[str, str]]
    exclusive: list[set[str]]    # groups of flags that exclude each other
    accepted: list[str]          # flags hidden from --help (accepted, no effect): named once in the man page


def _options(p: argparse.ArgumentParser) -> tuple[list[Option], list[Positional], list[str]]:
    opts, pos, hidden = [], [], []
    for a in p._actions:
        if isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if a.help == argparse.SUPPRESS:
            hidden.extend(a.option_strings)
            continue
        help_ = " ".join((a.help or "").split())
        if a.option_strings:
            takes = a.nargs != 0
            metavar = (a.metavar or a.dest.upper()) if takes else None
            opts.append(Option(list(a.option_strings), metavar if isinstance(metavar, str) else None,
                               [str(c) for c in a.choices] if a.choices else None, help_))
        else:
            pos.append(Positional(a.metavar or a.dest, a.nargs in ("?", "*"), help_))
    return opts, pos, hidden


def commands(parser: argparse.ArgumentParser) -> list[Command]:
    from vipdeck.cli import COMMANDS, EXAMPLES

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for name, p in sub.choices.items():
        if name not in COMMANDS:
            continue                 # hidden commands stay out of the docs too
        opts, pos, hidden = _options(p)
        groups = [{f for a in g._group_actions for f in a.option_strings} for g in p._mutually_exclusive_groups]
        out.append(Command(name, COMMANDS[name][1], opts, pos, EXAMPLES.get(name, []), groups, hidden))
    return out


# ------------------------------------------------------------------ man page

def _roff(text: str) -> str:
    """Escape running text for roff: backslashes, hyphens, and a leading dot or quote."""
    t = text.replace("\\", "\\e").replace("-", "\\-")
    if t.startswith((".", "'")):
        t = "\\&" + t
    return t


def _b(text: str) -> str:
    return f"\\fB{_roff(text)}\\fR"


def _i(text: str) -> str:
    return f"\\fI{_roff(text)}\\fR"


def _synopsis(c: Command) -> str:
    parts = [_b(f"vipdeck {c.name}")]
    for o in c.options:
        flag = _b(o.flags[0]) + (" " + _i(o.metavar) if o.metavar else "")
        parts.append(f"[{flag}]")
    for p in c.positionals:
        parts.append(f"[{_i(p.name)}]" if p.optional else _i(p.name))
    return " ".join(parts)


MAN_INTRO = """\
vipdeck reads the keepalived.conf(5) a node already has and runs it: VRRPv2 and
VRRPv3 beside real keepalived peers, VIPs moved with netlink and gratuitous ARP
or unsolicited neighbour advertisements, keepalived's trackers, notify scripts
and SMTP alerts, kernel IPVS and keepalived's health checkers.  The daemon is
controlled through a Unix socket; the console and the client commands below
talk to it there, and every change an operator makes is persisted and audited."""

MAN_TAIL = r""".SH FILES
.TP
.I /etc/keepalived/keepalived.conf
The configuration (keepalived's syntax; see keepalived.conf(5) and \fBvipdeck check\fR).
.TP
.I /run/vipdeck/control.sock
The control socket, mode 0660: reads for its group (\fB\-\-socket\-group\fR), changes for root only.
.TP
.I /var/lib/vipdeck/
Operator intent (drain, holds, takeovers, weight overrides), kept across restarts, and
.IR audit.log ,
one line per change: time, uid, request, result.
.TP
.I /etc/default/vipdeck
\fBVIPDECK_OPTIONS\fR for the systemd unit.
.TP
.I /etc/systemd/system/vipdeck.service
The unit (\fBvipdeck install\-unit\fR): \fBType=notify\fR, reload with \fBsystemctl reload vipdeck\fR.
.SH SIGNALS
.TP
.B SIGTERM, SIGINT
Leave cleanly: masters send a priority 0 advert (the peer takes over at once), VIPs are removed,
notify_stop scripts run.
.TP
.B SIGHUP
Reload the configuration.  A configuration with errors is refused with file:line and the running
one stays; unchanged instances keep their state.
.SH METRICS
\fBvipdeck daemon \-\-metrics\fR \fIADDR\fR:\fIPORT\fR serves Prometheus metrics on
\fIhttp://ADDR:PORT/metrics\fR: keepalived\-exporter's \fBkeepalived_*\fR names and labels, and
vipdeck's own \fBvipdeck_*\fR (see docs/metrics.md).
.SH EXIT STATUS
0 on success; 1 on an error (a configuration with errors, a refused request); 2 on a usage error;
3 when the control socket refuses a change to a user other than root.
.SH SEE ALSO
keepalived(8), keepalived.conf(5), ipvsadm(8), systemd.service(5)
"""


def man_page(parser: argparse.ArgumentParser) -> str:
    cmds = commands(parser)
    out = [
        '.\\" Generated by `vipdeck generate-docs` from the command line parser; do not edit.',
        '.TH VIPDECK 8 "" "vipdeck" "System Administration"',
        ".ad l",
        ".SH NAME",
        "vipdeck \\- keepalived\\-class VRRP and IPVS engine with an operator console",
        ".SH SYNOPSIS",
        f"{_b('vipdeck')} [{_b('--version')}] {_i('COMMAND')} [{_i('OPTIONS')}]",
        ".SH DESCRIPTION",
        _roff(MAN_INTRO),
        ".SH COMMANDS",
    ]
    for c in cmds:
        out += [f'.SS "{_roff(c.name)}"', _synopsis(c), ".PP", _roff(c.summary[0].upper() + c.summary[1:]) + "."]
        for o in c.options:
            head = ", ".join(_b(f) + (" " + _i(o.metavar) if o.metavar else "") for f in o.flags)
            out += [".TP", head, _roff(o.help + (f" One of: {', '.join(o.choices)}." if o.choices else ""))]
        for p in c.positionals:
            out += [".TP", _i(p.name), _roff(p.help)]
        if c.accepted:
            out += [".PP", _roff("Also accepted, for keepalived's command lines, with no effect: ")
                    + ", ".join(_b(f) for f in c.accepted) + "."]
    out.append(".SH EXAMPLES")
    for c in cmds:
        for cmd, what in c.examples:
            out += [".TP", _b(cmd), _roff(what[0].upper() + what[1:]) + "."]
    return "\n".join(out) + "\n" + MAN_TAIL


# ------------------------------------------------------------------ bash

def _value_kind(o: Option) -> str:
    if o.choices:
        return "words:" + " ".join(o.choices)
    if o.metavar in FILE_METAVARS:
        return "file"
    if o.metavar in DIR_METAVARS:
        return "dir"
    if o.metavar == "GROUP":
        return "group"
    return "none"


def bash_completion(parser: argparse.ArgumentParser) -> str:
    cmds = commands(parser)
    lines = [
        "# bash completion for vipdeck; generated by `vipdeck generate-docs`, do not edit.",
        "# Install: /usr/local/share/bash-completion/completions/vipdeck (or source it).",
        "_vipdeck() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        "    local cmd= i",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac',
        "    done",
        '    if [[ -z "$cmd" ]]; then',
        f'        COMPREPLY=($(compgen -W "{" ".join(c.name for c in cmds)} --help --version" -- "$cur"))',
        "        return",
        "    fi",
        '    local opts= value=',
        '    case "$cmd" in',
    ]
    for c in cmds:
        flags = " ".join(f for o in c.options for f in o.flags)
        lines.append(f'        {c.name}) opts="{flags} --help"')
        cases = {}
        for o in c.options:
            if o.metavar is not None:
                cases.setdefault(_value_kind(o), []).extend(o.flags)
        if cases:
            lines.append('            case "$prev" in')
            for kind, fl in cases.items():
                lines.append(f'                {"|".join(fl)}) value="{kind}" ;;')
            lines.append("            esac")
        lines.append("            ;;")
    lines += [
        "    esac",
        '    case "$value" in',
        '        file) COMPREPLY=($(compgen -f -- "$cur")); return ;;',
        '        dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;',
        '        group) COMPREPLY=($(compgen -g -- "$cur")); return ;;',
        '        words:*) COMPREPLY=($(compgen -W "${value#words:}" -- "$cur")); return ;;',
        "        none) return ;;",
        "    esac",
        '    COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        "}",
        "complete -o filenames -F _vipdeck vipdeck",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ zsh

def _zq(text: str) -> str:
    """Text inside a single-quoted zsh word, inside an _arguments [description]."""
    return text.replace("'", "'\\''").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def _zaction(o: Option) -> str:
    kind = _value_kind(o)
    if kind.startswith("words:"):
        return f"({kind[6:]})"
    return {"file": "_files", "dir": "_files -/", "group": "_groups"}.get(kind, " ")


def zsh_completion(parser: argparse.ArgumentParser) -> str:
    cmds = commands(parser)
    lines = [
        "#compdef vipdeck",
        "# zsh completion for vipdeck; generated by `vipdeck generate-docs`, do not edit.",
        "# Install: /usr/local/share/zsh/site-functions/_vipdeck (a directory in $fpath).",
        "",
        "_vipdeck() {",
        "    local curcontext=$curcontext state line ret=1",
        "    typeset -A opt_args",
        "    _arguments -C \\",
        "        '(- *)--version[show the version]' \\",
        "        '(- *)'{-h,--help}'[show help]' \\",
        "        '1:command:->command' \\",
        "        '*::argument:->argument' && ret=0",
        "    case $state in",
        "        command)",
        "            local -a commands",
        "            commands=(",
    ]
    for c in cmds:
        lines.append(f"                '{c.name}:{_zq(c.summary)}'")
    lines += [
        "            )",
        "            _describe -t commands 'vipdeck command' commands && ret=0",
        "            ;;",
        "        argument)",
        "            case $words[1] in",
    ]
    for c in cmds:
        specs = []
        for o in c.options:
            excl = next((g for g in c.exclusive if o.flags[0] in g), None)
            prefix = f"({' '.join(sorted(excl))})" if excl else (f"({' '.join(o.flags)})" if len(o.flags) > 1 else "")
            names = o.flags[0] if len(o.flags) == 1 else "{" + ",".join(o.flags) + "}"
            desc = _zq(o.help or o.flags[-1])
            value = f":{_zq(o.metavar.lower())}:{_zaction(o)}" if o.metavar else ""
            if len(o.flags) == 1:
                specs.append(f"'{prefix}{names}[{desc}]{value}'")
            else:
                specs.append(f"'{prefix}'{names}'[{desc}]{value}'")
        for n, p in enumerate(c.positionals, 1):
            specs.append(f"'{':' if p.optional else ''}{n}:{_zq(p.name.lower())}: '")
        body = " \\\n                        ".join(specs) if specs else ""
        lines.append(f"                {c.name}) _arguments {body} && ret=0 ;;")
    lines += [
        "            esac",
        "            ;;",
        "    esac",
        "    return ret",
        "}",
        "",
        '_vipdeck "$@"',
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ docs/metrics.md

METRICS_INTRO = """\
# Prometheus metrics

<!-- Generated by `vipdeck generate-docs` from engine/metrics.py (CATALOGUE, NOT_EXPORTED); do not edit. -->

`vipdeck daemon --metrics ADDR:PORT` serves Prometheus metrics on
`http://ADDR:PORT/metrics` (off by default). Under systemd, add it to
`/etc/default/vipdeck`:

```sh
VIPDECK_OPTIONS="--metrics 127.0.0.1:9650"
```

and `systemctl restart vipdeck`. `[::1]:9650` listens on IPv6; `0.0.0.0:9650`
on every address. The endpoint has no authentication and no TLS, like
keepalived-exporter's default: bind it to the loopback or a management
address, or put it behind a reverse proxy. A port that is in use stops the
daemon at start, before it touches a VIP, with `--metrics ADDR:PORT: Address
already in use; not starting` in the log.

```yaml
scrape_configs:
  - job_name: vipdeck
    static_configs:
      - targets: ["lb1.example.net:9650", "lb2.example.net:9650"]
```

## keepalived-exporter compatibility

The `keepalived_*` metrics carry the names, labels and types of
[mehdy/keepalived-exporter](https://github.com/mehdy/keepalived-exporter)
(as it names them since its v1.0.0; the older short names such as
`keepalived_advert_rcvd_total` were renamed there in 2020 and are not
exported), so its dashboard and alerts work unchanged on a vipdeck node:

- `keepalived_vrrp_state{iname,intf,vrid,ip_address}`: one series per VIP,
  valued as keepalived numbers its states: INIT 0, BACKUP 1, MASTER 2, FAULT 3,
  STOP 98. `intf` is the VIP's device, `ip_address` the VIP as keepalived prints
  it (`198.18.0.199` for a host address, `198.18.0.10/24` otherwise). An instance
  without VIPs has one series with `ip_address=""` and its own interface.
  `virtual_ipaddress_excluded` addresses are in `keepalived_vrrp_excluded_state`.
- The per-instance counters have the labels `iname,intf,vrid` (`intf` is the
  instance's interface). `keepalived_become_master_total` and
  `keepalived_release_master_total` count transitions, and the priority-0
  counters adverts, since the instance started (a reload that changes an
  instance starts it again, as keepalived does).
- `keepalived_up` is 1 when the engine answered the scrape. The exporter runs
  inside the daemon: a stopped daemon is a failed scrape (`up == 0` in
  Prometheus), a stalled event loop is `keepalived_up 0` after 5 seconds.
- keepalived-exporter listens on port 9165 by default: where Prometheus
  already scrapes `:9165`, `--metrics 0.0.0.0:9165` keeps its targets.

keepalived's packet-error counters add up vipdeck's reject reasons
(engine/vrrp/packet.py); every reason also has its own series in
`vipdeck_vrrp_rejects_total{reason}`, including those keepalived does not
count (`checksum`, `version`, `addr_family`, ...). vipdeck counts an unknown
auth type and a different one under the same reason, so both are in
`keepalived_authentication_mismatch_total`.

| keepalived-exporter metric | vipdeck reject reasons |
|---|---|
{mapping}

Not exported, because vipdeck has no source for them (a fake zero would hide that):

| metric | why |
|---|---|
{missing}

## How a scrape works

prometheus_client serves HTTP from its own thread. At each scrape that thread
asks the event loop for a snapshot (the same one `vipdeck status --json`
shows) and a copy of the counters the snapshot lacks: transitions to and from
MASTER and priority-0 adverts sent and received (the engine's own counters,
the ones keepalived's stats dump shows; a stats clear does not reset the
metrics), advert interval errors and reload results (counted by the exporter
on the loop). The loop never waits for the
HTTP side and never touches what it handed over again, so no lock is needed.
The thread then builds the metric families and the text: for 255 instances
and 80 real servers that is about 16,000 series and 150 ms of work, all off
the event loop (`python benchmarks/metrics_scrape.py`). No secret is ever read: labels are names,
addresses, states and reasons; free text (tracker and checker details, operator
reasons) is never exported. The process's own metrics (`process_*`,
`python_*`) come from prometheus_client.

## Grafana

`vipdeck/share/grafana/vipdeck.json` (installed with the package) is a dashboard
built on these metrics: import it and pick the Prometheus data source. Its VRRP
panels that use `keepalived_*` metrics also show keepalived nodes scraped by
keepalived-exporter.

## Alerts to start from

```yaml
groups:
  - name: vipdeck
    rules:
      - alert: VrrpNoMaster
        expr: count by (iname, vrid) (keepalived_vrrp_state == 2) == 0 or absent(keepalived_vrrp_state == 2)
        for: 30s
      - alert: VrrpTwoMasters
        expr: count by (iname, vrid) (keepalived_vrrp_state == 2) > 1 or max by (vrid) (vipdeck_vrid_split_brain) == 1
        for: 10s
      - alert: VipdeckReloadRefused
        expr: vipdeck_config_last_reload_successful == 0
      - alert: VipdeckNodeDrained
        expr: vipdeck_operator_drained == 1
        for: 1h
      - alert: RealServerDown
        expr: vipdeck_real_server_state{state="DOWN"} == 1
        for: 1m
      - alert: VirtualServerNoQuorum
        expr: vipdeck_virtual_server_quorum_up == 0
```

## Every metric

| metric | type | labels | meaning |
|---|---|---|---|
{table}
"""


def metrics_page() -> str:
    from vipdeck.engine.metrics import CATALOGUE, KEEPALIVED_ERRORS, NOT_EXPORTED

    mapping = "\n".join(f"| `{m}` | {', '.join(f'`{r}`' for r in reasons)} |" for m, reasons in KEEPALIVED_ERRORS.items())
    missing = "\n".join(f"| `{m}` | {why} |" for m, why in NOT_EXPORTED.items())
    table = "\n".join(f"| `{s.name}` | {s.kind} | {', '.join(s.labels) or '-'} | {s.help.replace('|', '/')} |"
                      for s in CATALOGUE)
    return METRICS_INTRO.replace("{mapping}", mapping).replace("{missing}", missing).replace("{table}", table)


def control_schema() -> str:
    from vipdeck.engine.control import schema_export

    return schema_export.text()


# checkout-relative pages, written only from a source checkout (docs/ is not in the wheel)
PAGES = {"docs/metrics.md": metrics_page, "docs/schema/vipdeck-control-v1.json": control_schema}
ROOT = Path(__file__).resolve().parent.parent.parent


# ------------------------------------------------------------------ the command

def generate(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """Relative path under share/ -> content."""
    if parser is None:
        from vipdeck.cli import build_parser

        parser = build_parser()
    return {OUTPUTS["man"]: man_page(parser), OUTPUTS["bash"]: bash_completion(parser),
            OUTPUTS["zsh"]: zsh_completion(parser)}


def run(args) -> int:
    stale = []
    targets = [(os.path.join(args.out, rel), text) for rel, text in generate().items()]
    if (ROOT / "docs").is_dir() and args.out == str(SHARE):
        targets += [(str(ROOT / rel), make()) for rel, make in PAGES.items()]
    for path, text in targets:
        try:
            with open(path) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
    verb = "out of date" if args.check else "written"
    for p in stale:
        print(f"{p}: {verb}", file=sys.stderr if args.check else sys.stdout)
    return 1 if (args.check and stale) else 0
