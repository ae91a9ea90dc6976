"""cds: rule-based clinical decision support for back pain during an acute illness."""
