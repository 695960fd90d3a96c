"""The client side of ``vmtui serve``: the pools of a daemon, over its JSON API.

:class:`~vmtui.remote.control.RemoteControl` is a
:class:`~vmtui.backends.fleet.control.Control` that speaks the API of
docs/api.md (aiohttp's client: a Unix socket, or TCP with a bearer token); the
Textual front runs on it unchanged (``vmtui attach``), and ``vmtui ctl`` uses
it for scripts. The front never imports this package: the command line builds
the app from a Control.

Modules: ``address`` (where the daemon is, the token), ``errors`` (what a call
can fail with), ``http`` (one REST call), ``mirror`` (the console lines kept
here), ``control`` (RemoteControl and its stream), ``attach`` and ``ctl`` (the
commands' bodies), ``args`` (their command lines).
"""
