package api

import (
	"encoding/json"
	"testing"
)

// TestWaitAnswersShuttingDownCode: a wait that posd's shutdown ends
// before the transaction did answers 503 with the stable code
// "shutting_down" (what posctl decides on), the words and the record.
func TestWaitAnswersShuttingDownCode(t *testing.T) {
	a, h := newTestAPI(t)
	tx, err := a.d.Engine.StartSale(2200, "156")
	if err != nil {
		t.Fatal(err)
	}
	defer a.d.Engine.Cancel(tx.ID)
	close(testStopping[t])
	code, _, body := do(h, call{method: "GET", path: "/v1/txns/" + tx.ID + "?wait=30s"})
	var v struct {
		Code  string   `json:"code"`
		Error string   `json:"error"`
		Txn   *txnView `json:"txn"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 503 || v.Code != "shutting_down" || v.Error == "" || v.Txn == nil || v.Txn.ID != tx.ID {
		t.Errorf("%d %s", code, body)
	}
}
