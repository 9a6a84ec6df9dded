package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/wallet"
	"posd/conn/clock"
	"posd/terminal/paycode"
	tw "posd/terminal/wallet"
)

var allAccounts = []paycode.Account{
	{GUI: paycode.GUIUnionPay, MerchantID: "898310048161234"},
	{GUI: paycode.GUIWeChat, MerchantID: "1900000109"},
	{GUI: paycode.GUIAlipay, MerchantID: "2088102146225135"},
}

// mpm is the code terminal tid shows for order id: its bill number is the
// order id, its terminal label the terminal id.
func mpm(t testing.TB, tid, id string, amount int64, currency string, accounts ...paycode.Account) string {
	t.Helper()
	if accounts == nil {
		accounts = allAccounts
	}
	s, err := paycode.BuildMPM(paycode.Merchant{Name: "POSD TEST SHOP", City: "SHANGHAI", Country: "CN", MCC: "5411",
		Terminal: tid, Accounts: accounts}, amount, currency, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func phone(t *testing.T, url string, p tw.Platform, payload string) tw.Response {
	t.Helper()
	r, err := wallet.PhonePay(context.Background(), url, p, payload, nil)
	if err != nil {
		t.Fatalf("phone pay: %v", err)
	}
	return r
}

func TestPhonePaysPrecreatedOrder(t *testing.T) {
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1})
	c := client(t, srv.URL, "T010", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T010"), nil)
	ctx := context.Background()

	r, err := c.Precreate(ctx, tw.WeChat, tw.Order{ID: "M1", Amount: 1234, Currency: "CNY"})
	if err != nil || r.Status != tw.StatusUserPaying || r.PlatformTxnID != "" {
		t.Fatalf("precreate: %+v %v", r, err)
	}
	if r, err := c.Query(ctx, tw.WeChat, "M1"); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("query before the phone: %+v %v", r, err)
	}
	payload := mpm(t, "T010", "M1", 1234, "CNY")
	pr := phone(t, srv.URL, tw.WeChat, payload)
	if pr.Code != "" || pr.Status != tw.StatusSuccess || pr.OrderID != "M1" || pr.PlatformTxnID == "" {
		t.Fatalf("phone pay: %+v", pr)
	}
	q, err := c.Query(ctx, tw.WeChat, "M1")
	if err != nil || q.Status != tw.StatusSuccess || q.PlatformTxnID != pr.PlatformTxnID {
		t.Fatalf("query after the phone: %+v %v (phone %+v)", q, err, pr)
	}
	// Refunds work as for a paid-by-code order.
	if r, err := c.Refund(ctx, tw.WeChat, "M1", "R1", 234); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("refund: %+v %v", r, err)
	}
	tot := sim.Totals()
	if tot.Precreates != 1 || tot.PhonePays != 1 || tot.Paid != 1 || tot.PaidTwice != 0 || tot.RefundedAmount != 234 {
		t.Fatalf("totals %+v", tot)
	}
	js := j.String()
	if !strings.Contains(js, `"op":"phone_pay","order_id":"M1","amount":1234,"status":"success"`) ||
		!strings.Contains(js, `"terminal":"T010","platform":"wechat","op":"phone_pay"`) ||
		!strings.Contains(js, `"op":"precreate","order_id":"M1","amount":1234,"status":"user_paying"`) {
		t.Fatalf("journal:\n%s", js)
	}
	if strings.Contains(js, payload) || strings.Contains(js, "POSD TEST SHOP") {
		t.Fatalf("journal holds the payload:\n%s", js)
	}
}

// The terminal cancels while the customer is still scanning: the late
// phone pay is refused and nothing is charged.
func TestPhonePayAfterCancel(t *testing.T) {
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1})
	c := client(t, srv.URL, "T011", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T011"), nil)
	ctx := context.Background()
	if _, err := c.Precreate(ctx, tw.Alipay, tw.Order{ID: "M2", Amount: 500, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Cancel(ctx, tw.Alipay, "M2"); err != nil || r.Status != tw.StatusClosed {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	pr := phone(t, srv.URL, tw.Alipay, mpm(t, "T011", "M2", 500, "CNY"))
	if pr.Code != wallet.CodeOrderClosed || pr.Status != tw.StatusClosed || pr.PlatformTxnID != "" {
		t.Fatalf("phone pay of a cancelled order: %+v", pr)
	}
	if r, _ := c.Query(ctx, tw.Alipay, "M2"); r.Status != tw.StatusClosed {
		t.Fatalf("query: %+v", r)
	}
	// A cancel before the precreate arrived: the late precreate and the
	// phone find it closed.
	if r, _ := c.Cancel(ctx, tw.Alipay, "M3"); r.Status != tw.StatusClosed {
		t.Fatalf("cancel unknown: %+v", r)
	}
	if r, err := c.Precreate(ctx, tw.Alipay, tw.Order{ID: "M3", Amount: 500, Currency: "CNY"}); err != nil || r.Status != tw.StatusClosed {
		t.Fatalf("late precreate: %+v %v", r, err)
	}
	if pr := phone(t, srv.URL, tw.Alipay, mpm(t, "T011", "M3", 500, "CNY")); pr.Code != wallet.CodeOrderClosed {
		t.Fatalf("phone pay of an order cancelled before its precreate: %+v", pr)
	}
	// Cancel of a paid precreated order reverses it; the phone then
	// finds it refunded.
	if _, err := c.Precreate(ctx, tw.Alipay, tw.Order{ID: "M4", Amount: 700, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	if pr := phone(t, srv.URL, tw.Alipay, mpm(t, "T011", "M4", 700, "CNY")); pr.Status != tw.StatusSuccess {
		t.Fatalf("phone pay: %+v", pr)
	}
	if r, err := c.Cancel(ctx, tw.Alipay, "M4"); err != nil || r.Status != tw.StatusRefunded {
		t.Fatalf("cancel of a paid order: %+v %v", r, err)
	}
	if pr := phone(t, srv.URL, tw.Alipay, mpm(t, "T011", "M4", 700, "CNY")); pr.Code != wallet.CodeOrderRefunded {
		t.Fatalf("phone pay of a reversed order: %+v", pr)
	}
	tot := sim.Totals()
	if tot.Paid != 1 || tot.PaidTwice != 0 || tot.Closed != 2 || tot.Reversed != 1 || tot.PhonePays != 4 {
		t.Fatalf("totals %+v", tot)
	}
}

func TestPhonePayRefusals(t *testing.T) {
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1, Merchants: map[tw.Platform]string{tw.UnionPay: "898310048161234"}})
	c := client(t, srv.URL, "T012", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T012"), nil)
	ctx := context.Background()
	for _, p := range []tw.Platform{tw.WeChat, tw.UnionPay} {
		if _, err := c.Precreate(ctx, p, tw.Order{ID: "N" + string(p[:1]), Amount: 1000, Currency: "156"}); err != nil {
			t.Fatal(err)
		}
	}
	good := mpm(t, "T012", "Nw", 1000, "CNY")
	badCRC := good[:len(good)-1] + string("0123456789ABCDEF"[(strings.IndexByte("0123456789ABCDEF", good[len(good)-1])+1)%16])
	cases := []struct {
		name    string
		p       tw.Platform
		payload string
		code    string
	}{
		{"amount", tw.WeChat, mpm(t, "T012", "Nw", 1001, "CNY"), tw.CodeOrderMismatch},
		{"currency", tw.WeChat, mpm(t, "T012", "Nw", 1000, "HKD"), tw.CodeOrderMismatch},
		{"no template of the platform", tw.WeChat, mpm(t, "T012", "Nw", 1000, "CNY", allAccounts[0], allAccounts[2]), tw.CodeBadRequest},
		{"order of another platform", tw.Alipay, mpm(t, "T012", "Nw", 1000, "CNY"), tw.CodeNotFound},
		{"bad CRC", tw.WeChat, badCRC, tw.CodeBadRequest},
		{"not an MPM", tw.WeChat, "134567890123456789", tw.CodeBadRequest},
		{"unknown platform", tw.Platform("paypal"), good, tw.CodeBadRequest},
		{"unknown order", tw.WeChat, mpm(t, "T012", "Nx", 1000, "CNY"), tw.CodeNotFound},
		{"other terminal", tw.WeChat, mpm(t, "T013", "Nw", 1000, "CNY"), tw.CodeNotFound},
		{"no terminal label", tw.WeChat, mpm(t, "", "Nw", 1000, "CNY"), tw.CodeNotFound},
		{"another merchant", tw.UnionPay, mpm(t, "T012", "Nu", 1000, "CNY", paycode.Account{GUI: paycode.GUIUnionPay, MerchantID: "898310048169999"}), tw.CodeOrderMismatch},
	}
	for _, tc := range cases {
		r := phone(t, srv.URL, tc.p, tc.payload)
		if r.Code != tc.code || r.Status == tw.StatusSuccess || r.PlatformTxnID != "" {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.code)
		}
		if strings.Contains(r.Reason, "POSD") || strings.Contains(r.Reason, "T012") {
			t.Errorf("%s: reason quotes the payload: %q", tc.name, r.Reason)
		}
	}
	if tot := sim.Totals(); tot.Paid != 0 || tot.PhonePays != len(cases) {
		t.Fatalf("refusals paid: %+v", sim.Totals())
	}
	// The orders still wait; the right codes pay them.
	for _, tc := range []struct {
		p       tw.Platform
		payload string
	}{{tw.WeChat, good}, {tw.UnionPay, mpm(t, "T012", "Nu", 1000, "CNY")}} {
		if r := phone(t, srv.URL, tc.p, tc.payload); r.Status != tw.StatusSuccess {
			t.Fatalf("%s: %+v", tc.p, r)
		}
	}
	if tot := sim.Totals(); tot.Paid != 2 || tot.BadRequest != 4 {
		t.Fatalf("totals %+v", tot)
	}
	if strings.Contains(j.String(), "POSD TEST SHOP") {
		t.Fatalf("journal holds a payload:\n%s", j.String())
	}
	// Bodies that are not a phone pay.
	for name, body := range map[string]string{
		"not JSON":      `{`,
		"unknown field": `{"platform":"wechat","payload":"x","pin":"1234"}`,
		"two values":    `{"platform":"wechat","payload":"x"}{}`,
		"too long":      `{"platform":"wechat","payload":"` + strings.Repeat("0", tw.MaxBody) + `"}`,
	} {
		resp, err := http.Post(srv.URL+wallet.PhonePath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"code":"bad_request"`) {
			t.Errorf("%s: HTTP %d %s", name, resp.StatusCode, b)
		}
	}
	if resp, err := http.Get(srv.URL + wallet.PhonePath); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// Precreate is idempotent by order id and never reuses an id of another
// payment; a precreated order is not paid by queries (magic amounts are
// for pay only).
func TestPrecreateIdempotent(t *testing.T) {
	// The repeats go out a second apart: new requests, executed.
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1, Clock: clk})
	c := client(t, srv.URL, "T014", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T014"), clk)
	ctx := context.Background()
	o := tw.Order{ID: "P1", Amount: 2061, Currency: "CNY"}
	for i := range 2 {
		clk.Advance(time.Second)
		if r, err := c.Precreate(ctx, tw.UnionPay, o); err != nil || r.Status != tw.StatusUserPaying {
			t.Fatalf("precreate %d: %+v %v", i, r, err)
		}
	}
	for i := range 4 {
		if r, _ := c.Query(ctx, tw.UnionPay, "P1"); r.Status != tw.StatusUserPaying {
			t.Fatalf("query %d paid a precreated order without the phone: %+v", i, r)
		}
	}
	var rj *tw.RejectedError
	if _, err := c.Precreate(ctx, tw.UnionPay, tw.Order{ID: "P1", Amount: 2062, Currency: "CNY"}); !errors.As(err, &rj) || rj.Code != tw.CodeOrderMismatch {
		t.Fatalf("precreate of the id with another amount: %v", err)
	}
	if _, err := c.Precreate(ctx, tw.WeChat, o); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("precreate of the id on another platform: %v", err)
	}
	if _, err := c.Pay(ctx, tw.UnionPay, tw.Order{ID: "P1", Amount: 2061, Currency: "CNY", Code: codeFor(tw.UnionPay, 1)}); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("pay by code of a precreated id: %v", err)
	}
	if _, err := c.Pay(ctx, tw.UnionPay, tw.Order{ID: "P2", Amount: 100, Currency: "CNY", Code: codeFor(tw.UnionPay, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Precreate(ctx, tw.UnionPay, tw.Order{ID: "P2", Amount: 100, Currency: "CNY"}); !errors.Is(err, tw.ErrRejected) {
		t.Fatalf("precreate of a paid-by-code id: %v", err)
	}
	// The phone cannot pay an order paid by code.
	if r := phone(t, srv.URL, tw.UnionPay, mpm(t, "T014", "P2", 100, "CNY")); r.Code != tw.CodeNotFound {
		t.Fatalf("phone pay of a paid-by-code order: %+v", r)
	}
	if r := phone(t, srv.URL, tw.UnionPay, mpm(t, "T014", "P1", 2061, "CNY")); r.Status != tw.StatusSuccess {
		t.Fatalf("phone pay: %+v", r)
	}
	// Once paid, a repeat answers success with the same transaction.
	q, _ := c.Query(ctx, tw.UnionPay, "P1")
	clk.Advance(time.Second)
	if r, err := c.Precreate(ctx, tw.UnionPay, o); err != nil || r != q || r.Status != tw.StatusSuccess {
		t.Fatalf("precreate of a paid order: %+v %v, query %+v", r, err, q)
	}
	tot := sim.Totals()
	if tot.Precreates != 6 || tot.PrecreateRepeats != 2 || tot.Paid != 2 || tot.PaidTwice != 0 || tot.Repeats != 0 {
		t.Fatalf("totals %+v", tot)
	}
}

// However often and however concurrently phones pay one code, the order
// is paid once; the repeats answer its state.
func TestPhonePaysTwice(t *testing.T) {
	sim, srv, j := rig(t, wallet.Opts{QueryRate: -1})
	c := client(t, srv.URL, "T015", wallet.TerminalKey([]byte(wallet.TestMasterKey), "T015"), nil)
	if _, err := c.Precreate(context.Background(), tw.WeChat, tw.Order{ID: "D1", Amount: 888, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	payload := mpm(t, "T015", "D1", 888, "CNY")
	const n = 8
	got := make([]tw.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := wallet.PhonePay(context.Background(), srv.URL, tw.WeChat, payload, nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	for i, r := range got {
		if r.Code != "" || r.Status != tw.StatusSuccess || r.PlatformTxnID != got[0].PlatformTxnID {
			t.Fatalf("phone %d: %+v (phone 0: %+v)", i, r, got[0])
		}
	}
	tot := sim.Totals()
	if tot.Paid != 1 || tot.PaidTwice != 0 || tot.PhonePays != n || tot.PhonePayRepeats != n-1 {
		t.Fatalf("totals %+v", tot)
	}
	if strings.Count(j.String(), `"duplicate":true`) != n-1 {
		t.Fatalf("journal:\n%s", j.String())
	}
}

// tamper changes every answer body after the simulator signed it.
type tamper struct{ h http.Handler }

func (m tamper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(bytes.Replace(rec.Body.Bytes(), []byte("user_paying"), []byte("success"), 1))
}

// HTTPClient.Precreate against the simulator: the simulator refuses a
// request under another key, and the client refuses an answer whose
// signature does not verify.
func TestPrecreateSignatures(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	sim, srv, _ := rig(t, wallet.Opts{QueryRate: -1, Clock: clk})
	ctx := context.Background()
	o := tw.Order{ID: "S1", Amount: 300, Currency: "CNY"}
	bad := client(t, srv.URL, "T016", bytes.Repeat([]byte{9}, 32), clk)
	var rj *tw.RejectedError
	if _, err := bad.Precreate(ctx, tw.Alipay, o); !errors.As(err, &rj) || rj.Code != tw.CodeBadSignature {
		t.Fatalf("precreate under a wrong key: %v", err)
	}
	if sim.Totals().Precreates != 0 {
		t.Fatal("a precreate under a wrong key was taken")
	}
	tsrv := httptest.NewServer(tamper{sim})
	defer tsrv.Close()
	key := wallet.TerminalKey([]byte(wallet.TestMasterKey), "T016")
	if _, err := client(t, tsrv.URL, "T016", key, clk).Precreate(ctx, tw.Alipay, o); !errors.Is(err, tw.ErrBadResponse) || !tw.OutcomeUnknown(err) {
		t.Fatalf("tampered answer: %v", err)
	}
	// The precreate did arrive: the repeat through the right path, the
	// same bytes in the same second, gets its answer, from memory.
	if r, err := client(t, srv.URL, "T016", key, clk).Precreate(ctx, tw.Alipay, o); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	// A second later it is a new request, executed: idempotent by the
	// order id.
	clk.Advance(time.Second)
	if r, err := client(t, srv.URL, "T016", key, clk).Precreate(ctx, tw.Alipay, o); err != nil || r.Status != tw.StatusUserPaying {
		t.Fatalf("repeat a second later: %+v %v", r, err)
	}
	if tot := sim.Totals(); tot.Precreates != 2 || tot.PrecreateRepeats != 1 || tot.Repeats != 1 || tot.BadSignature != 1 {
		t.Fatalf("totals %+v", tot)
	}
}
