"""Networks of every system, each with its width and depth taken from config."""
