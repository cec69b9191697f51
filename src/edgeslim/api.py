"""Layer 6: the user verbs as plain functions (the CLI is a thin shell over these)."""
