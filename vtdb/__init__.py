"""Video Tagging DB: turn a video library into a searchable database of timestamped moments.

The top-level scripts (phase1_whisper_frames.py, db_manager.py, ...) are thin command-line
front ends over this package; each module here owns one concern.
"""

__version__ = "0.1.0"
