"""``python -m lago``: the lago CLI."""

from lago.cmd import run

if __name__ == "__main__":
    run()
