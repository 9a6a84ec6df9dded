package api

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"posd/terminal/store"
)

// BenchmarkStatusAndList measures GET /v1/status and GET /v1/txns?limit=20
// (what posctl status and posctl txn list --limit 20 ask) with 1,000 and
// 100,000 records kept: the cost must not grow with the records (schema 1
// decoded every record on every status: 8 ms at 2,200 records, 38 ms at
// 12,200).
func BenchmarkStatusAndList(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		a, h := newTestAPI(b)
		a.d.DB.Bolt().NoSync = true
		for i := 0; i < n; i += 1000 {
			err := a.d.DB.Do(func(tx *store.Tx) error {
				for j := i; j < i+1000 && j < n; j++ {
					st := store.StateApproved
					if j%100 == 0 {
						st = store.StateReversalPending
					}
					x := store.Txn{Kind: "purchase", Amount: 100, Currency: "156", State: st, MaskedPAN: "476173******0010",
						KSN: "123456789012345600000001", AuthCode: "AB12CD", RRN: "633119000001", ResponseCode: "00"}
					if err := tx.Create(&x); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		a.d.DB.Bolt().NoSync = false
		for _, path := range []string{"/v1/status", "/v1/txns?limit=20"} {
			b.Run(fmt.Sprintf("%s/%d", path, n), func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest("GET", "http://127.0.0.1:7070"+path, nil)
					req.Header.Set("Authorization", "Bearer "+testToken)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("%s: %d", path, w.Code)
					}
				}
			})
		}
	}
}
