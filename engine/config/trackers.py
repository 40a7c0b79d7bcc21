"""Trackers: ``vrrp_script``, ``track_file``, ``vrrp_track_process``, and the
``track_*`` references instances and sync groups make to them.

keepalived.conf(5): "VRRP script(s)", "Track files", "VRRP track processes".
The references are checked against the defined names once the whole file
is read (``check_refs``), because a tracker may be defined after its user.
"""

from __future__ import annotations

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import LINE, Draft, ParseContext, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (choice, flag_arg, float_arg, int_arg, joined_arg, need, str_arg, to_int,
                                          weight_reverse)


def parse_vrrp_script(s: ParseContext, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_script")
    if name is None or not s.define("script", name, loc(st), "vrrp_script"):
        return
    d, dr = s.d, Draft("vrrp_script", name, loc(st))

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -253, 253)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def user(x: Stmt) -> None:
        if need(d, x, 1, 2, "a user name"):
            dr.set(d, "user", x.args[0].text, x.words[0])
            if len(x.args) > 1:
                dr.values["group"] = x.args[1].text

    table = {
        "script": (LINE, lambda x: dr.set(d, "script", joined_arg(d, x), x.words[0])),
        "interval": (LINE, lambda x: dr.set(d, "interval", float_arg(d, x, positive=True), x.words[0])),
        "timeout": (LINE, lambda x: dr.set(d, "timeout", float_arg(d, x, positive=True), x.words[0])),
        "weight": (LINE, weight),
        "rise": (LINE, lambda x: dr.set(d, "rise", int_arg(d, x, 1), x.words[0])),
        "fall": (LINE, lambda x: dr.set(d, "fall", int_arg(d, x, 1), x.words[0])),
        "user": (LINE, user),
        "init_fail": (LINE, lambda x: dr.set(d, "init_fail", flag_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"vrrp_script {name}", kind="vrrp_script")
    if not dr.has("script"):
        d.error(st.words[0], f"vrrp_script {show(name)} has no 'script' line: there is nothing to run")
        return
    s.scripts.append(m.VrrpScript(name=name, **dr.values, loc=dr.loc))


def parse_track_file(s: ParseContext, st: Stmt) -> None:
    if st.keyword == "vrrp_track_file":
        s.d.note(st.words[0], "'vrrp_track_file' is the old name of 'track_file'")
    name = s.name_arg(st, "track_file")
    if name is None or not s.define("file", name, loc(st), "track_file"):
        return
    d, dr = s.d, Draft("track_file", name, loc(st))

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -2147483647, 2147483647)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def init_file(x: Stmt) -> None:
        value, overwrite = 0, False
        for t in x.args:
            if t.text == "overwrite":
                overwrite = True
            else:
                v = to_int(d, t, "init_file", -2147483648, 2147483647)
                value = v if v is not None else value
        dr.set(d, "init_file", value, x.words[0])
        dr.values["init_file_overwrite"] = overwrite

    table = {
        "file": (LINE, lambda x: dr.set(d, "file", str_arg(d, x), x.words[0])),
        "weight": (LINE, weight),
        "init_file": (LINE, init_file),
    }
    s.walk(st.block or [], table, f"track_file {name}", kind="track_file")
    if not dr.get("file"):
        d.error(st.words[0], f"track_file {show(name)} has no 'file' line: there is nothing to watch")
        return
    s.track_files.append(m.TrackFile(name=name, **dr.values, loc=dr.loc))


def parse_track_process(s: ParseContext, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_track_process")
    if name is None or not s.define("process", name, loc(st), "vrrp_track_process"):
        return
    d, dr = s.d, Draft("vrrp_track_process", name, loc(st))

    def process(x: Stmt) -> None:
        if need(d, x, 1, None, "a process name"):
            dr.set(d, "process", x.args[0].text, x.words[0])
            dr.values["parameters"] = tuple(t.text for t in x.args[1:])

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -254, 254)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def param_match(x: Stmt) -> None:
        if need(d, x, 1, 1):
            dr.set(d, "param_match", choice(d, x.args[0], "param_match", {"initial", "partial"}), x.words[0])

    table = {
        "process": (LINE, process),
        "param_match": (LINE, param_match),
        "weight": (LINE, weight),
        "quorum": (LINE, lambda x: dr.set(d, "quorum", int_arg(d, x, 0, 65535), x.words[0])),
        "quorum_max": (LINE, lambda x: dr.set(d, "quorum_max", int_arg(d, x, 0, 65535), x.words[0])),
        "fork_delay": (LINE, lambda x: dr.set(d, "fork_delay", float_arg(d, x), x.words[0])),
        "terminate_delay": (LINE, lambda x: dr.set(d, "terminate_delay", float_arg(d, x), x.words[0])),
        "delay": (LINE, lambda x: dr.set(d, "delay", float_arg(d, x), x.words[0])),
        "full_command": (LINE, lambda x: dr.set(d, "full_command", flag_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"vrrp_track_process {name}", kind="vrrp_track_process")
    if not dr.get("process"):
        d.error(st.words[0], f"vrrp_track_process {show(name)} has no 'process' line: there is nothing to watch")
        return
    v = dr.values
    if v.get("quorum_max") is not None and v["quorum_max"] < v.get("quorum", 1):
        d.error(dr.where["quorum_max"], f"vrrp_track_process {show(name)}: quorum_max {v['quorum_max']} is "
                f"below quorum {v.get('quorum', 1)}; the process can never be up")
    if "delay" in v:                    # 'delay' sets both, unless given separately
        v.setdefault("fork_delay", v["delay"])
        v.setdefault("terminate_delay", v["delay"])
    s.track_processes.append(m.TrackProcess(name=name, **v, loc=dr.loc))


def parse_refs(s: ParseContext, st: Stmt, lo: int, hi: int) -> list[m.TrackRef]:
    """The names in track_interface / track_script / … blocks, each with ``weight N [reverse]``."""
    refs = []
    for x in st.block or []:
        if x.block is not None:
            s.d.error(x.words[0], f"'{show(x.keyword)}' in {st.keyword} does not take a {{ }} block")
        w, rev = weight_reverse(s.d, x, 1, lo, hi)
        refs.append(m.TrackRef(name=x.keyword, weight=w, reverse=rev, loc=loc(x)))
    return refs


def check_refs(s: ParseContext, owner: str, refs: dict[str, list[m.TrackRef]]) -> None:
    kinds = {"track_scripts": ("script", "track_script", "vrrp_script"),
             "track_files": ("file", "track_file", "track_file"),
             "track_processes": ("process", "track_process", "vrrp_track_process")}
    for key, (kind, kw, block) in kinds.items():
        for r in refs.get(key, []):
            if r.name not in s.defined[kind]:
                s.d.error(r.loc, f"{kw} '{show(r.name)}' in {owner}: no {block} with that name is defined")
