"""The analysis behind each chapter of the book: one module per chapter, or per part of a
long one (chapter 2: schedules, schedules_optimizers, schedules_confirmation; chapter 4:
sharpness, sharpness_shapes)."""
