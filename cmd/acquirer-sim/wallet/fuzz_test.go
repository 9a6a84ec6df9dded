package wallet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	f.Add("wechat/pay", []byte(`{"order_id":"134567890123456789"}`), true) // an order id that is the code's digits
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	j := &lastLine{}
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
		if journalsCode(t, j.String(), "134567890123456789") {
			t.Fatal("journal holds a full code")
		}
	})
}

// journalsCode reports whether the journal line holds code anywhere but
// in the ids: an order or refund id may be the same digits, and is no
// payment code.
func journalsCode(t *testing.T, line, code string) bool {
	t.Helper()
	if !strings.Contains(line, code) {
		return false
	}
	var e wallet.Entry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatalf("journal line %q: %v", line, err)
	}
	e.OrderID, e.RefundID = "", ""
	b, _ := json.Marshal(e)
	return strings.Contains(string(b), code)
}

// FuzzPhonePay: whatever body the phone sends, the simulator answers
// JSON — 200 only for a paid order, a code otherwise — never panics,
// never pays an order twice or one it did not precreate, and neither
// the journal nor the reason quotes the payload.
func FuzzPhonePay(f *testing.F) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	j := &lastLine{}
	sim := wallet.New(wallet.Opts{Clock: clk, Journal: j})
	c, err := tw.NewHTTPClient(tw.Opts{BaseURL: "http://sim", TerminalID: "TF", Clock: clk,
		Key: wallet.TerminalKey([]byte(wallet.TestMasterKey), "TF"), HTTP: &http.Client{Transport: memTransport{sim}}})
	if err != nil {
		f.Fatal(err)
	}
	for i, p := range []tw.Platform{tw.WeChat, tw.Alipay, tw.UnionPay} {
		if _, err := c.Precreate(context.Background(), p, tw.Order{ID: "F" + strconv.Itoa(i), Amount: 1200, Currency: "CNY"}); err != nil {
			f.Fatal(err)
		}
	}
	body := func(p tw.Platform, payload string) []byte {
		b, _ := json.Marshal(map[string]string{"platform": string(p), "payload": payload})
		return b
	}
	good := mpm(f, "TF", "F0", 1200, "CNY")
	f.Add(body(tw.WeChat, good))
	f.Add(body(tw.Alipay, mpm(f, "TF", "F1", 1200, "CNY")))
	f.Add(body(tw.UnionPay, mpm(f, "TF", "F2", 1201, "CNY")))
	f.Add(body(tw.WeChat, mpm(f, "TF", "F0", 1200, "CNY", allAccounts[0])))
	f.Add(body(tw.WeChat, good[:len(good)-4]+"0000"))
	f.Add(body(tw.WeChat, "134567890123456789"))
	f.Add([]byte(`{"platform":"wechat","payload":"x","extra":1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest(http.MethodPost, "http://sim"+wallet.PhonePath, bytes.NewReader(b))
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		var resp tw.Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("HTTP %d answer is not JSON: %q", w.Code, w.Body.String())
		}
		if (w.Code == http.StatusOK) != (resp.Code == "") || w.Code == http.StatusOK && resp.Status != tw.StatusSuccess {
			t.Fatalf("HTTP %d answer %+v", w.Code, resp)
		}
		tot := sim.Totals()
		if tot.PaidTwice != 0 || tot.Paid > 3 {
			t.Fatalf("totals %+v", tot)
		}
		var req struct{ Payload string }
		if json.Unmarshal(b, &req) == nil && len(req.Payload) >= 40 {
			if strings.Contains(j.String(), req.Payload) || strings.Contains(resp.Reason, req.Payload) {
				t.Fatal("the payload is quoted")
			}
		}
	})
}

// lastLine keeps the journal's last line only: a fuzz target checks each
// call's line without the journal growing with every input.
type lastLine struct {
	mu sync.Mutex
	b  []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b[:0], p...)
	return len(p), nil
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// FuzzStateFile: no state file content crashes Open, and what Open
// accepts it writes back (after a change) in a form it opens again.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"seq":3,"orders":{"TF|P1":{"kind":"pay","platform":"wechat","amount":1000,"currency":"CNY","status":"success","txn_id":"WE000000000003","paid":true,"refunded":300,"refunds":{"R1":300}}},"used":{"` + strings.Repeat("ab", 32) + `":"TF|P1"}}`))
	f.Add([]byte(`{"version":1,"orders":{"TF|C1":{"platform":"alipay","status":"closed"}}}`))
	f.Add([]byte(`{"version":1,"orders":{"TF|P1":{"platform":"wechat","status":"success","refunded":5}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "TF")
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "orders.json")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		sim, err := wallet.Open(wallet.Opts{StateFile: path, Clock: clk})
		if err != nil {
			return
		}
		body := []byte(`{"order_id":"F1"}`)
		r := httptest.NewRequest(http.MethodPost, "http://sim/wechat/cancel", bytes.NewReader(body))
		ts := tw.Timestamp(clk.Now())
		r.Header.Set(tw.HeaderTerminal, "TF")
		r.Header.Set(tw.HeaderTimestamp, ts)
		r.Header.Set(tw.HeaderSignature, tw.SignRequest(key, r.URL.Path, "TF", ts, body))
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("cancel: HTTP %d %s", w.Code, w.Body.String())
		}
		if _, err := wallet.Open(wallet.Opts{StateFile: path, Clock: clk}); err != nil {
			t.Fatalf("the state it wrote does not open: %v", err)
		}
	})
}
