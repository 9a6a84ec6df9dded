package txn

import "posd/terminal/store"

// OpenBatchPending is what the open batch holds beyond its totals
// (OpenBatch): the offline approvals whose advice has not reached the
// host yet, per currency. The cardholder has paid them, but the bank
// has not been told: they join the totals once their advice is
// acknowledged (a close sends them first), unless the host refuses one.
// It reads only.
func (e *Engine) OpenBatchPending() ([]store.Totals, error) {
	_, recs, err := e.openBatchRecords()
	if err != nil {
		return nil, err
	}
	var waiting []store.Txn
	for _, r := range recs {
		if counts(r, true) && !counts(r, false) {
			waiting = append(waiting, r)
		}
	}
	return batchTotals(waiting), nil
}
