"""One module per grant type; the registry lists them."""
