"""Tensor graph rewrites, one module per pass family (fusion, inplace, ...)."""
