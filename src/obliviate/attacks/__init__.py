"""Attacks on an unlearned model: a model or subject in, an attacked one out."""
