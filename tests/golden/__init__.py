"""The golden test's frozen copies (see tests/test_golden_readers.py); delete with it."""
