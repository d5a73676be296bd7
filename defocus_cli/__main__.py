"""Run the command line as ``python -m defocus_cli`` (also what ``torchrun -m`` needs)."""

from defocus_cli.cli.main import main

if __name__ == "__main__":
    main()
