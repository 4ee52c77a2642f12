"""Desktop adapters (X11 first): screen capture, tile codec, pacing, input injection, Esc.

The screen, the injector and the Esc watch are behind one small interface,
`backend.DesktopBackend`, with two backends: ``x11`` (python-xlib: XTEST,
RECORD) and ``pynput`` (`portable`: mss and pynput, for macOS and Windows).
The session drives it through the `Desktop` protocol of `ra.session.driver`.
"""
