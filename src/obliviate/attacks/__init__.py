"""Attacks on an unlearned model: other ways to ask for, or to recover, what it was made to forget."""
