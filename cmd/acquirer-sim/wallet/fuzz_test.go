package wallet_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	tw "posd/terminal/wallet"
)

// FuzzWalletRequest: whatever the path and body (signed with the right
// key or not), the simulator answers with JSON, never panics, never
// journals the code in full and never pays twice.
func FuzzWalletRequest(f *testing.F) {
	f.Add("/wechat/pay", []byte(`{"order_id":"A1","amount":100,"currency":"CNY","code":"134567890123456789"}`), true)
	f.Add("/alipay/query", []byte(`{"order_id":"A1"}`), true)
	f.Add("/unionpay/refund", []byte(`{"order_id":"A1","refund_id":"R1","amount":5}`), true)
	f.Add("/wechat/cancel", []byte(`{"order_id":"A1"}`), false)
	f.Add("/x/y/z", []byte(`{`), true)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	j := &syncBuf{}
	sim := wallet.New(wallet.Opts{Clock: clk, Journal: j})
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "TF")
	f.Fuzz(func(t *testing.T, path string, body []byte, sign bool) {
		// Only paths a request line can carry.
		path = "/" + strings.TrimLeft(strings.Map(func(r rune) rune {
			if r <= ' ' || r >= 0x7f || r == '?' || r == '#' || r == '%' {
				return -1
			}
			return r
		}, path), "/")
		r := httptest.NewRequest(http.MethodPost, "http://sim"+path, bytes.NewReader(body))
		ts := tw.Timestamp(clk.Now())
		r.Header.Set(tw.HeaderTerminal, "TF")
		r.Header.Set(tw.HeaderTimestamp, ts)
		if sign {
			r.Header.Set(tw.HeaderSignature, tw.SignRequest(key, r.URL.Path, "TF", ts, body))
		}
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Body.Len() == 0 {
			t.Fatalf("HTTP %d without a body", w.Code)
		}
		if w.Body.Len() > 0 && w.Body.Bytes()[0] != '{' {
			t.Fatalf("answer is not JSON: %q", w.Body.String())
		}
		if sim.Totals().PaidTwice != 0 {
			t.Fatal("paid twice")
		}
		if strings.Contains(j.String(), "134567890123456789") {
			t.Fatal("journal holds a full code")
		}
	})
}
