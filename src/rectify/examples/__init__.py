"""Example scenarios, written through the application as real users would."""
