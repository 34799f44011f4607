# Frozen copy of the log readers of egress_sim/logs/ at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
