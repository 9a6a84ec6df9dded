package wallet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	tw "posd/terminal/wallet"
)

// rawPost sends body to path with headers as they are and returns the
// answer's status, body and signature header.
func rawPost(t *testing.T, url, path string, h http.Header, body []byte) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get(tw.HeaderSignature)
}

// A verbatim repeat of a signed pay, precreate, cancel or refund — the
// terminal's retry in the same second, or a copy replayed off the wire
// while its signature is good — is answered as the first one was, with
// the same signature, and not executed again. A query is executed every
// time: it reads the order's state now.
func TestVerbatimRepeat(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1, Clock: clk})
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "T020")
	c := client(t, srv.URL, "T020", key, clk)
	ctx := context.Background()

	// The terminal's pay, and the same bytes again in the same second.
	o := tw.Order{ID: "V61", Amount: 1061, Currency: "CNY", Code: codeN(20)}
	first, err := c.Pay(ctx, tw.WeChat, o)
	if err != nil || first.Status != tw.StatusUserPaying {
		t.Fatalf("pay: %+v %v", first, err)
	}
	again, err := c.Pay(ctx, tw.WeChat, o)
	if err != nil || again != first {
		t.Fatalf("the same pay again: %+v %v, first %+v", again, err, first)
	}
	if tot := sim.Totals(); tot.Pays != 1 || tot.PayRepeats != 0 || tot.Repeats != 1 {
		t.Fatalf("totals %+v", tot)
	}

	// A copy of a cancel replayed off the wire four minutes later: the
	// first answer, the same signature.
	body, _ := json.Marshal(tw.Request{OrderID: "V61"})
	path := tw.Path(tw.WeChat, tw.OpCancel)
	h := http.Header{}
	h.Set(tw.HeaderTerminal, "T020")
	h.Set(tw.HeaderTimestamp, tw.Timestamp(clk.Now()))
	h.Set(tw.HeaderSignature, tw.SignRequest(key, path, "T020", h.Get(tw.HeaderTimestamp), body))
	s1, b1, sig1 := rawPost(t, srv.URL, path, h, body)
	if s1 != http.StatusOK || !bytes.Contains(b1, []byte(tw.StatusClosed)) || sig1 == "" {
		t.Fatalf("cancel: HTTP %d %s", s1, b1)
	}
	clk.Advance(4 * time.Minute)
	s2, b2, sig2 := rawPost(t, srv.URL, path, h, body)
	if s2 != s1 || !bytes.Equal(b2, b1) || sig2 != sig1 {
		t.Fatalf("replayed cancel: HTTP %d %s %s, first HTTP %d %s %s", s2, b2, sig2, s1, b1, sig1)
	}
	if tot := sim.Totals(); tot.Cancels != 1 || tot.Repeats != 2 {
		t.Fatalf("totals %+v", tot)
	}
	// Past the window it is stale.
	clk.Advance(time.Minute + time.Second)
	if s, b, _ := rawPost(t, srv.URL, path, h, body); s != http.StatusUnauthorized {
		t.Fatalf("stale cancel: HTTP %d %s", s, b)
	}

	// A query is executed every time: the same bytes in the same second
	// see the payment made in between.
	if r, err := c.Precreate(ctx, tw.Alipay, tw.Order{ID: "VM1", Amount: 500, Currency: "CNY"}); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("precreate: %+v %v", r, err)
	}
	if r, err := c.Query(ctx, tw.Alipay, "VM1"); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("query: %+v %v", r, err)
	}
	if r := phone(t, srv.URL, tw.Alipay, mpm(t, "T020", "VM1", 500, "CNY")); r.Status != tw.StatusSuccess {
		t.Fatalf("phone pay: %+v", r)
	}
	if r, err := c.Query(ctx, tw.Alipay, "VM1"); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("the same query after the phone paid: %+v %v", r, err)
	}

	// A pay left unanswered (magic 64) is not remembered: its repeat is
	// executed, and answers the order's state.
	o64 := tw.Order{ID: "V64", Amount: 1064, Currency: "CNY", Code: codeFor(tw.UnionPay, 21)}
	if _, err := c.Pay(ctx, tw.UnionPay, o64); !tw.OutcomeUnknown(err) {
		t.Fatalf("64: %v", err)
	}
	if r, err := c.Pay(ctx, tw.UnionPay, o64); err != nil || r.Status != tw.StatusSuccess {
		t.Fatalf("the same pay of 64 again: %+v %v", r, err)
	}
	tot := sim.Totals()
	if tot.Queries != 2 || tot.PayRepeats != 1 || tot.Repeats != 2 || tot.PaidTwice != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if n := strings.Count(j.String(), `"repeat":true`); n != 2 {
		t.Fatalf("%d repeats journaled:\n%s", n, j.String())
	}
}
