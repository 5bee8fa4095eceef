"""What every layer above the engine shares: the engines and KV clients built from settings, database
access from async code, the embedded KV server, and the contract's JSON shape of a task."""
