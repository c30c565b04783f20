"""The analysis behind each chapter of the book: one module per chapter."""
