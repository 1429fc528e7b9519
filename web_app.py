#!/usr/bin/env python3
"""The web app: python web_app.py [--config PATH] [--host 127.0.0.1] [--port 8765] [--allow-actions]."""
from vtdb.commands.serve import main

if __name__ == "__main__":
    main()
