"""The HTTP layer: parse, authenticate the client, call the core, render."""
