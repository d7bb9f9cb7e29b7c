"""Example data shipped with the package: the agencies `handoff demo` imports."""
