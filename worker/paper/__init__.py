"""The desk's paper: documents printed or downloaded from the desk and ops pages and the CLI
(hand-over records and envelope slips as PDF; the fee reconciliation as a spreadsheet).

Rendering only: each module turns a read model from worker/service/views into bytes. It
decides nothing and stores nothing; the pages and the commands above it hand it what to
render, and the service below records what was printed."""
