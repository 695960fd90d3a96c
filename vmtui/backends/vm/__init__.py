"""The contract every VM type implements (syzkaller's vmimpl): errors, states, Pool/Instance/Env,
the registry, capability Protocols, the merger, tasks."""
