"""``vmtui serve``: the pools and the farm as a daemon, behind a JSON API.

A thin skin on :class:`~vmtui.backends.fleet.control.Control`: every endpoint is
one Control call whose answer goes out as ``wire.to_json``. aiohttp serves it on
one runner: a Unix socket (the trust boundary: only the owner reaches it) and,
when asked, TCP sites that need a bearer token. docs/api.md is the contract.

Modules: ``addresses`` (where it listens, the state folder, tokens), ``guard``
(authentication, Origin, request bodies), ``api`` (the REST routes),
``stream`` (the WebSocket with flow control), ``metrics`` (/metrics),
``daemon`` (the app, its lifetime, signals: the command's body).
"""
