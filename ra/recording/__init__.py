"""The person's recorded screen: encrypted chunks vouched for by the log.

- `ra.recording.chunks`: the chunk format, its encryption and the
  ``recording.chunk`` event's fields;
- `ra.recording.recorder`: the live recorder (chunks written off the hot path);
- `ra.recording.store`: a session's recording read back, every chunk checked
  against its event (replay, export and ``ra audit verify`` use it);
- `ra.recording.video`: a standard video file made from a recording (PyAV).
"""
