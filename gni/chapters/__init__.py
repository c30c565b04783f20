"""The analysis behind each chapter of the book: a module per chapter (chapter 4: two)."""
