"""The bottom wing: errors, diagnostics, files, the schema loader, API text made safe.

Every other wing may use it; it uses none."""
