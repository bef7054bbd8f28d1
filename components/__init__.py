"""One ComponentResource per subsystem of the app; `__main__.py` wires them together."""
