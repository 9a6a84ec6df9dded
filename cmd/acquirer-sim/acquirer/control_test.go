package acquirer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// ctl is a client of the control endpoint of a rig.
type ctl struct {
	t   *testing.T
	url string
}

func startControl(t *testing.T, r *rig) *ctl {
	t.Helper()
	ts := httptest.NewServer(r.srv.ControlHandler())
	t.Cleanup(ts.Close)
	return &ctl{t: t, url: ts.URL}
}

// do sends a request and returns the status and the decoded JSON body.
func (c *ctl) do(method, path, contentType, body string, hdr ...string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s %s: Content-Type %q (%s)", method, path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		c.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
	}
	return resp.StatusCode, m
}

func (c *ctl) arm(body string) map[string]any {
	c.t.Helper()
	code, m := c.do(http.MethodPost, "/v1/faults", "application/json", body)
	if code != http.StatusCreated {
		c.t.Fatalf("arming %s: %d %v", body, code, m)
	}
	return m
}

// armed returns the remaining answers of each armed fault, by id.
func (c *ctl) armed() map[float64]float64 {
	c.t.Helper()
	code, m := c.do(http.MethodGet, "/v1/faults", "", "")
	if code != http.StatusOK {
		c.t.Fatalf("GET /v1/faults: %d %v", code, m)
	}
	out := map[float64]float64{}
	list, _ := m["faults"].([]any)
	for _, f := range list {
		fm := f.(map[string]any)
		out[fm["id"].(float64)] = fm["remaining"].(float64)
	}
	return out
}

// TestControlFaults: faults armed by kind hit only approved answers of
// that kind, as many as armed, in both dialects.
func TestControlFaults(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) { controlFaults(t, d) })
	}
}

func controlFaults(t *testing.T, dialect string) {
	r := startServer(t, dialect, wiresec.ModeAES, nil)
	cc := startControl(t, r)
	c := newClient(t, dialect, r.addr, nil)
	// Dropped answers are waited for this long.
	impatient, err := host.New(&host.Opts{Addr: r.addr, Dialect: dialect, ResponseTimeout: 300 * time.Millisecond,
		TerminalID: "T0000001", MerchantID: "M00000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = impatient.Close() })
	tm := newTerminal(t, wiresec.ModeAES)
	ctx := context.Background()
	refund := func(cl *host.Client, stan uint32) (host.Result, error) {
		p := purchase(stan, 1000+10*int64(stan))
		p.Kind, p.Batch = host.KindRefund, 1
		return cl.Purchase(ctx, p, tm.session(t))
	}

	a := cc.arm(`{"fault":"drop","kind":"refund","count":2}`)
	id := a["id"].(float64)
	if a["fault"] != "drop" || a["kind"] != "refund" || a["remaining"] != 2.0 {
		t.Fatalf("armed %v", a)
	}
	// A purchase is not a refund; a declined refund is not an approval.
	if res, err := c.Purchase(ctx, purchase(1, 500), tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("purchase: %+v %v", res, err)
	}
	p := purchase(2, 1051)
	p.Kind, p.Batch = host.KindRefund, 1
	if res, err := c.Purchase(ctx, p, tm.session(t)); err != nil || res.ResponseCode != acquirer.RCInsufficient {
		t.Fatalf("declined refund: %+v %v", res, err)
	}
	if got := cc.armed(); got[id] != 2 {
		t.Fatalf("armed after a purchase and a decline: %v", got)
	}
	if _, err := refund(impatient, 3); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("first dropped refund: %v", err)
	}
	if got := cc.armed(); got[id] != 1 {
		t.Fatalf("armed after one drop: %v", got)
	}
	if _, err := refund(impatient, 4); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("second dropped refund: %v", err)
	}
	if got := cc.armed(); len(got) != 0 {
		t.Fatalf("armed after two drops: %v", got)
	}
	if res, err := refund(c, 5); err != nil || !res.Approved() {
		t.Fatalf("refund after the drops: %+v %v", res, err)
	}

	// Any kind but the network ones; a void's answer with a bad MAC.
	cc.arm(`{"fault":"bad_mac"}`)
	if err := c.Echo(ctx, 6); err != nil {
		t.Fatalf("echo with a fault armed for any kind: %v", err)
	}
	sale, err := c.Purchase(ctx, purchase(7, 800), tm.session(t))
	if !errors.Is(err, host.ErrBadMAC) {
		t.Fatalf("purchase under bad_mac: %+v %v", sale, err)
	}
	cc.arm(`{"fault":"delay","kind":"settlement","delay":"20ms"}`)
	cc.arm(`{"fault":"duplicate","kind":"echo"}`)
	if code, m := cc.do(http.MethodDelete, "/v1/faults", "", ""); code != http.StatusOK || m["cleared"] != 2.0 {
		t.Fatalf("DELETE: %d %v", code, m)
	}
	cc.arm(`{"fault":"delay","kind":"settlement","delay":"20ms"}`)
	// The purchases carried no batch number: they are the open batch's,
	// the one this settlement closes. The sale under bad_mac is the
	// host's approval (the terminal would reverse it).
	st := host.Settlement{STAN: 8, Batch: 1, Currency: "156",
		Totals: host.Totals{DebitCount: 2, DebitAmount: 500 + 800, CreditCount: 3, CreditAmount: 1030 + 1040 + 1050}}
	if res, err := c.Settle(ctx, st, tm.session(t)); err != nil || res.ResponseCode != host.SettlementBalanced {
		t.Fatalf("delayed settlement: %+v %v", res, err)
	}

	code, m := cc.do(http.MethodGet, "/v1/batches?terminal=T0000001", "", "")
	bs, _ := m["batches"].([]any)
	if code != http.StatusOK || m["terminal"] != "T0000001" || len(bs) != 1 {
		t.Fatalf("batches: %d %v", code, m)
	}
	b1 := bs[0].(map[string]any)
	if b1["batch"] != 1.0 || b1["closed"] != true || b1["credit_count"] != 3.0 || b1["credit_amount"] != 3120.0 ||
		b1["debit_count"] != 2.0 || b1["entries"] != 5.0 {
		t.Fatalf("batch 1: %v", b1)
	}
	if code, m := cc.do(http.MethodGet, "/v1/ledger?terminal=T0000001", "", ""); code != http.StatusOK || len(m["entries"].([]any)) != 5 {
		t.Fatalf("ledger: %d %v", code, m)
	}
	r.stop()

	faults := map[string][]string{}
	for _, e := range r.journal.entries(t) {
		if e.Fault != "" {
			faults[e.Kind+" "+e.STAN] = append(faults[e.Kind+" "+e.STAN], e.Direction)
			if e.ResponseCode != acquirer.RCApproved || !strings.Contains(e.Note, "control endpoint") {
				t.Errorf("fault line %+v", e)
			}
		}
	}
	want := map[string]string{"refund 000003": "in drop", "refund 000004": "in drop", "purchase 000007": "in out", "settlement 000008": "in out"}
	if len(faults) != len(want) {
		t.Errorf("fault lines %v, want %v", faults, want)
	}
	for k, dirs := range want {
		if strings.Join(faults[k], " ") != dirs {
			t.Errorf("%s: fault lines %v, want %s", k, faults[k], dirs)
		}
	}
}

// TestControlBadInput: malformed or unknown requests are answered 4xx
// with a JSON error, and the simulator keeps serving.
func TestControlBadInput(t *testing.T) {
	r := startServer(t, "", wiresec.ModeAES, nil)
	cc := startControl(t, r)
	const js = "application/json"
	for _, tc := range []struct {
		method, path, ct, body string
		hdr                    []string
		code                   int
	}{
		{"POST", "/v1/faults", js, `{"fault":"explode"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","kind":"teleport"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","count":0}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","count":-1}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","count":1.5}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","count":10001}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","count":"2"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","delay":"2s"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"delay"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"late","delay":"forever"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"slow","delay":"-1s"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"slow","delay":"11m"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop","extra":1}`, nil, 400},
		{"POST", "/v1/faults", js, `{"fault":"drop"}{"fault":"drop"}`, nil, 400},
		{"POST", "/v1/faults", js, `{"kind":"refund"}`, nil, 400},
		{"POST", "/v1/faults", js, ``, nil, 400},
		{"POST", "/v1/faults", js, `null`, nil, 400},
		{"POST", "/v1/faults", js, `["drop"]`, nil, 400},
		{"POST", "/v1/faults", js, strings.Repeat(" ", 70<<10) + `{"fault":"drop"}`, nil, 400},
		{"POST", "/v1/faults", "text/plain", `{"fault":"drop"}`, nil, 415},
		{"POST", "/v1/faults", "", `{"fault":"drop"}`, nil, 415},
		{"POST", "/v1/faults", js, `{"fault":"drop"}`, []string{"Host", "evil.example"}, 421},
		{"GET", "/v1/faults?all=1", "", "", nil, 400},
		{"PUT", "/v1/faults", js, `{"fault":"drop"}`, nil, 405},
		{"POST", "/v1/batches?terminal=T0000001", js, `{}`, nil, 405},
		{"GET", "/v1/nothing", "", "", nil, 404},
		{"GET", "/", "", "", nil, 404},
		{"GET", "/v1/batches", "", "", nil, 400},
		{"GET", "/v1/batches?terminal=", "", "", nil, 400},
		{"GET", "/v1/batches?terminal=T0000000001", "", "", nil, 400},
		{"GET", "/v1/batches?terminal=T1&terminal=T2", "", "", nil, 400},
		{"GET", "/v1/batches?terminal=T0000001&x=1", "", "", nil, 400},
		{"GET", "/v1/batches?terminal=%zz", "", "", nil, 400},
		{"GET", "/v1/ledger", "", "", nil, 400},
	} {
		code, m := cc.do(tc.method, tc.path, tc.ct, tc.body, tc.hdr...)
		if msg, _ := m["error"].(string); code != tc.code || msg == "" {
			t.Errorf("%s %s %.40q: %d %v, want %d with an error", tc.method, tc.path, tc.body, code, m, tc.code)
		}
	}
	if got := cc.armed(); len(got) != 0 {
		t.Fatalf("bad input armed %v", got)
	}
	// Still serving, both sides.
	cc.arm(`{"fault":"slow","kind":"purchase","count":1,"delay":"1ms"}`)
	c := newClient(t, "", r.addr, nil)
	if res, err := c.Purchase(context.Background(), purchase(1, 100), newTerminal(t, wiresec.ModeAES).session(t)); err != nil || !res.Approved() {
		t.Fatalf("purchase after bad control input: %+v %v", res, err)
	}
	if code, m := cc.do(http.MethodGet, "/v1/batches?terminal=T0000001", "", "", "Host", "localhost:1"); code != http.StatusOK || len(m["batches"].([]any)) != 1 {
		t.Fatalf("batches: %d %v", code, m)
	}
}

func TestParseFaultSpec(t *testing.T) {
	for body, want := range map[string]acquirer.FaultSpec{
		`{"fault":"drop"}`:                                        {Fault: "drop", Count: 1},
		`{"fault":"reset","kind":"void","count":3}`:               {Fault: "reset", Kind: "void", Count: 3},
		`{"fault":"late","kind":"","delay":"2s"}`:                 {Fault: "late", Count: 1, Delay: 2 * time.Second},
		`{"fault":"delay","kind":"batch_upload","delay":"150ms"}`: {Fault: "delay", Kind: "batch_upload", Count: 1, Delay: 150 * time.Millisecond},
	} {
		got, err := acquirer.ParseFaultSpec([]byte(body))
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", body, got, err, want)
		}
	}
	if _, err := acquirer.ParseFaultSpec([]byte(`{"fault":"nope"}`)); !errors.Is(err, acquirer.ErrControl) {
		t.Errorf("unknown fault: %v", err)
	}
}

// FuzzFaultSpec: the control endpoint's body parser never panics, what it
// accepts is within bounds, and the handler answers 201 exactly for
// those and 400 with a JSON error otherwise.
func FuzzFaultSpec(f *testing.F) {
	for _, s := range []string{
		`{"fault":"drop","kind":"refund","count":2}`, `{"fault":"delay","delay":"2s"}`, `{"fault":"late","delay":"1m","kind":""}`,
		`{"fault":"garbage","count":10000}`, `{"fault":"x"}`, `{}`, `null`, `[]`, `{"fault":"drop"} 1`, `{"fault":"drop","count":1e3}`,
		`{"fault":"slow","delay":"9223372036854775807ns"}`, "{\"fault\":\"drop\",\"kind\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	srv, err := acquirer.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	h := srv.ControlHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, perr := acquirer.ParseFaultSpec(body)
		if perr == nil {
			if spec.Count < 1 || spec.Count > acquirer.MaxFaultCount || spec.Delay < 0 || spec.Delay > acquirer.MaxFaultDelay ||
				spec.Fault == "" || (spec.Fault == acquirer.FaultDelay && spec.Delay == 0) {
				t.Fatalf("accepted %+v", spec)
			}
		} else if !errors.Is(perr, acquirer.ErrControl) {
			t.Fatalf("error %v is not ErrControl", perr)
		}
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/v1/faults", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := http.StatusCreated
		if perr != nil {
			want = http.StatusBadRequest
		}
		var m map[string]any
		if rec.Code != want || json.Unmarshal(rec.Body.Bytes(), &m) != nil || (perr != nil && m["error"] == nil) {
			t.Fatalf("%d %s, want %d", rec.Code, rec.Body.Bytes(), want)
		}
		srv.ClearFaults()
	})
}
