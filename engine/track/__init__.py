"""Tracked objects for VRRP: scripts, files, processes, interfaces.

``runner``    runs commands keepalived-style (shared with notify scripts)
``weights``   keepalived's weight/reverse/fault rules, pure
``script``    vrrp_script with rise/fall
``file``      track_file (inotify, polling fallback)
``process``   vrrp_track_process via one shared psutil scan
``interface`` track_interface, fed by the net driver's link watch

``engine.vrrp.track`` combines them per VRRP instance.
"""
