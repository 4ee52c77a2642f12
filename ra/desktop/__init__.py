"""Desktop adapters (X11 first): screen capture, tile codec, pacing, input injection, Esc.

Each adapter is behind a small interface (`capture.DesktopCapture`, the
`Desktop` protocol of `ra.session.driver`) so Windows and macOS adapters can
take their place.
"""
