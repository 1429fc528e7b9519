"""The command-line front ends: each module parses, calls the library and prints (`vtdb COMMAND` or the top-level scripts)."""
