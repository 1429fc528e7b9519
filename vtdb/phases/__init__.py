"""The four phases, each a PhaseJob for vtdb.runner.run_phase (the CLIs in vtdb.commands only parse and print)."""
