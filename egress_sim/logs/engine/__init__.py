"""The log ingestion engine: everything the formats share (files, gzip, line blocks, JSON record streams, the
ledger, the reading loop). It knows no format."""
