"""What Phase 4 writes and the faces read back: subtitle files (WebVTT, SRT) and the Markdown report.

Below the phases, so that Phase 4, the export, the web app and the commands share one writer each.
"""
