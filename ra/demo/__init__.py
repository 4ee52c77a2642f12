"""`ra demo`: a whole assistance session on a virtual desktop, then its log at work."""
