package api

import (
	"encoding/json"
	"testing"

	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// TestOfflineAmountsFormatted: the status and posctl sync say the sum
// waiting to be forwarded as every other answer says an amount ("30.00"
// with its currency), next to the minor units they always gave.
func TestOfflineAmountsFormatted(t *testing.T) {
	a, h := newTestAPI(t)
	storetest.Seed(t, a.d.DB, []store.Txn{
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateOfflineApproved, STAN: 2, Batch: a.d.DB.OpenBatch()},
	}, map[int]store.JobKind{0: store.JobAdvice})
	for _, c := range []call{{method: "GET", path: "/v1/status"}, {method: "POST", path: "/v1/sync", body: `{}`}} {
		code, _, body := do(h, c)
		var v struct {
			Offline *struct {
				Count         int    `json:"count"`
				Amount        int64  `json:"amount"`
				AmountDecimal string `json:"amount_decimal"`
				Currency      string `json:"currency"`
			} `json:"offline"`
			Count         int    `json:"count"`
			Amount        int64  `json:"amount"`
			AmountDecimal string `json:"amount_decimal"`
			Currency      string `json:"currency"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
			t.Fatalf("%s: %d %s", c.path, code, body)
		}
		count, amount, dec, cur := v.Count, v.Amount, v.AmountDecimal, v.Currency
		if v.Offline != nil {
			count, amount, dec, cur = v.Offline.Count, v.Offline.Amount, v.Offline.AmountDecimal, v.Offline.Currency
		}
		if count != 1 || amount != 3000 || dec != "30.00" || cur != "CNY" {
			t.Errorf("%s: %d, %d, %q %q; body %s", c.path, count, amount, dec, cur, body)
		}
	}
}
