"""Evaluation: model passes (generations) computed once, metrics as pure functions over them."""
