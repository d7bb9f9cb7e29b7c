"""Vietnam Post's public postal service (bưu chính công ích), as its API is described in
docs/carrier-vnpost-ngsp.md.

- `wire.py`: paths, the order body, replies, the status table, HTTP classification: what
  both routes send and read; `feed.py`: the tracking feed's pages read into events;
- `routes/`: one adapter per way in (`ngsp.py`: route A, the national N-GSP gateway;
  `lgsp.py` + `lgsp_wire.py`: route B, the province's LGSP), on the shared HTTP plumbing of
  `gateway.py`;
- `tokens/`: access tokens shared by a machine's processes (`cache.py`) in private files
  (`files.py`);
- `push.py`: the carrier's status push (codes, signature, body);
- `s10.py`: parcel numbers (S10 check digit)."""
