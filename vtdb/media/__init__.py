"""Reading media: probing and frames (video), speech to words (transcribe), overlapping windows (windows)."""
