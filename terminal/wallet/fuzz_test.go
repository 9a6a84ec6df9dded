package wallet

import (
	"strings"
	"testing"
)

// FuzzDecodeResponse: no answer body crashes the client's decoding, and
// what it accepts is a valid status of the right order.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(`{"order_id":"O1","status":"success","platform_txn_id":"WE1"}`))
	f.Add(429, []byte(`{"order_id":"O1","code":"too_frequent"}`))
	f.Add(404, []byte(`{"order_id":"O1","code":"not_found"}`))
	f.Add(200, []byte(`{"order_id":"O2","status":"closed"}`))
	f.Add(200, []byte(`[]`))
	f.Add(200, []byte(`{"order_id":"O1","status":"success","platform_txn_id":"WE1","amount":1000,"currency":"CNY"}`))
	f.Add(200, []byte(`{"order_id":"O1","status":"success","amount":-5,"currency":"C\u0000Y"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := DecodeResponse(OpQuery, "O1", status, body)
		if err == nil && (!r.Status.Valid() || status != 200 || r.Amount < 0 || r.Currency != "" && !ValidCurrency(r.Currency)) {
			t.Fatalf("accepted %+v from HTTP %d", r, status)
		}
		if err != nil && strings.Contains(err.Error(), "134567890123456789") {
			t.Fatal("error quotes a code")
		}
	})
}
