"""A lago plugin shaped like lago-ost-plugin (test fixture)."""
