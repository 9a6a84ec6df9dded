package host

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/terminal/wiresec"
)

// hintHost answers every request "00" (a settlement balanced), with the
// update notice when hint says so, MACed under the request's own KSN
// where the kind is MACed.
func hintHost(t *testing.T, d *Dialect, hint func(Request) bool) string {
	t.Helper()
	return fakeHost(t, d, func(m *iso8583.Message) []byte {
		req, err := d.DecodeRequest(m)
		if err != nil {
			t.Errorf("host: %v", err)
			return nil
		}
		resp := Response{ResponseCode: "00", Time: testTime, UpdateWaiting: hint(req)}
		if cardPresent(req.Kind) || req.Kind == KindVoid || req.Kind == KindCompletion {
			resp.RRN, resp.AuthCode = "503141000001", "A1B2C3"
		}
		out, err := d.EncodeResponse(req, resp)
		if err != nil {
			t.Errorf("host: %v", err)
			return nil
		}
		if len(req.KSN) == 0 {
			raw, _ := out.Pack()
			return raw
		}
		hst, err := wiresec.ForHost(wiresec.ModeAES, testBDK, req.KSN)
		if err != nil {
			t.Errorf("host: %v", err)
			return nil
		}
		raw, err := d.Seal(out, hst.MACResponse)
		if err != nil {
			t.Errorf("host: %v", err)
		}
		return raw
	})
}

// TestUpdateNotice: in both dialects, every kind of answer can carry the
// host's notice that an update waits; the client reads it (MAC first),
// gives it in Result.UpdateWaiting and calls OnHint, once per answer
// carrying it and never for one without.
func TestUpdateNotice(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			hinting := atomic.Bool{}
			addr := hintHost(t, d, func(Request) bool { return hinting.Load() })
			c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001", ResponseTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var hints atomic.Int32
			c.OnHint(func() { hints.Add(1) })
			ctx := context.Background()
			n := 0
			sess := func() *wiresec.Session {
				n++
				term, _ := sessions(t, n)
				return term
			}
			stan := uint32(0)
			exchanges := []struct {
				name string
				do   func() (Result, error)
			}{
				{"sign-on", func() (Result, error) { stan++; return Result{}, c.SignOn(ctx, stan) }},
				{"echo", func() (Result, error) { stan++; return Result{}, c.Echo(ctx, stan) }},
				{"purchase", func() (Result, error) { stan++; return c.Purchase(ctx, testCard(KindPurchase, stan), sess()) }},
				{"refund", func() (Result, error) { stan++; return c.Purchase(ctx, testCard(KindRefund, stan), sess()) }},
				{"preauth", func() (Result, error) { stan++; return c.Purchase(ctx, testCard(KindPreauth, stan), sess()) }},
				{"advice", func() (Result, error) {
					stan++
					return c.Advice(ctx, Advice{STAN: stan, Ref: "R1", Time: testTime, Amount: 1000, Currency: "156", EntryMode: "051",
						Track2: []byte(testTrack2), ICC: adviceRequest(1, nil).ICC, ResponseCode: OfflineApproved, Batch: 3}, sess())
				}},
				{"reversal", func() (Result, error) {
					stan++
					return c.Reverse(ctx, Reversal{STAN: stan, OrigSTAN: stan, OrigTime: testTime, OrigEntryMode: "051", Amount: 1000,
						Currency: "156", Batch: 3, Reason: ReasonNoResponse}, sess())
				}},
				{"void", func() (Result, error) { stan++; return c.FollowUp(ctx, testReference(KindVoid, stan, ""), sess()) }},
				{"settlement", func() (Result, error) { stan++; return c.Settle(ctx, testSettlement(stan, false), sess()) }},
			}
			for _, hint := range []bool{false, true} {
				hinting.Store(hint)
				for _, x := range exchanges {
					before := hints.Load()
					res, err := x.do()
					if err != nil {
						t.Fatalf("%s (hint %v): %v", x.name, hint, err)
					}
					if x.name != "sign-on" && x.name != "echo" && res.UpdateWaiting != hint {
						t.Errorf("%s: UpdateWaiting %v, host hinted %v", x.name, res.UpdateWaiting, hint)
					}
					if got := hints.Load() - before; got != map[bool]int32{false: 0, true: 1}[hint] {
						t.Errorf("%s (hint %v): OnHint called %d times", x.name, hint, got)
					}
				}
			}
			// No callback: the answers still read.
			c.OnHint(nil)
			if _, err := c.Purchase(ctx, testCard(KindPurchase, 99), sess()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUpdateNoticeWire: the notice is DE62 DF01 01 01 of the response, in
// both dialects, covered by the response MAC; a response without it has
// no DE62.
func TestUpdateNoticeWire(t *testing.T) {
	for _, d := range testDialects {
		term, hst := sessions(t, 2)
		req := purchaseRequest(7, hst.KSN())
		req.MTI = MTIPurchase
		for _, hint := range []bool{false, true} {
			m, err := d.EncodeResponse(req, Response{ResponseCode: "00", RRN: "503141000001", AuthCode: "A1B2C3", Time: testTime, UpdateWaiting: hint})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := m.GetBytes(DENotices)
			if hint != bytes.Equal(v, []byte{0xDF, 0x01, 0x01, 0x01}) || (!hint && len(v) != 0) {
				t.Fatalf("%s hint %v: DE62 % X", d.Name, hint, v)
			}
			raw, err := d.Seal(m, hst.MACResponse)
			if err != nil {
				t.Fatal(err)
			}
			want := expect{mti: "0210", stan: "000007", tid: "T0000001", amount: 1000, hasAmount: true}
			res, err := d.parseResponse(raw, want, term)
			if err != nil || res.UpdateWaiting != hint {
				t.Fatalf("%s hint %v: %+v %v", d.Name, hint, res, err)
			}
			if hint {
				// The notice is MACed: changed on the way, the answer fails its MAC.
				i := bytes.Index(raw, []byte{0xDF, 0x01, 0x01, 0x01})
				bad := bytes.Clone(raw)
				bad[i+1] = 0x02
				if _, err := d.parseResponse(bad, want, term); !errors.Is(err, ErrBadMAC) {
					t.Fatalf("%s: notice changed on the way: %v", d.Name, err)
				}
			}
		}
	}
}

func TestParseNotices(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want bool
		ok   bool
	}{
		"empty":           {nil, false, true},
		"update":          {[]byte{0xDF, 0x01, 0x01, 0x01}, true, true},
		"unknown skipped": {[]byte{0xDF, 0x22, 0x02, 0xAA, 0xBB, 0xDF, 0x01, 0x01, 0x01}, true, true},
		"unknown only":    {[]byte{0xDF, 0x7F, 0x00}, false, true},
		"update value 00": {[]byte{0xDF, 0x01, 0x01, 0x00}, false, false},
		"update long":     {[]byte{0xDF, 0x01, 0x02, 0x01, 0x01}, false, false},
		"update twice":    {[]byte{0xDF, 0x01, 0x01, 0x01, 0xDF, 0x01, 0x01, 0x01}, false, false},
		"cut short":       {[]byte{0xDF, 0x01, 0x01}, false, false},
		"not private":     {[]byte{0x9F, 0x01, 0x01, 0x01}, false, false},
		"tag 00":          {[]byte{0xDF, 0x00, 0x00}, false, false},
		"three-byte tag":  {[]byte{0xDF, 0x81, 0x01, 0x01, 0x01}, false, false},
		"long length":     {[]byte{0xDF, 0x22, 0x81, 0x01, 0x00}, false, false},
		"too long":        {append([]byte{0xDF, 0x22, 0x7F}, make([]byte, 127)...), false, false},
	} {
		n, err := ParseNotices(c.in)
		if (err == nil) != c.ok || n.UpdateWaiting != c.want || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("%s: %+v %v", name, n, err)
		}
	}
}

// FuzzParseNotices: no input panics; what reads as the update notice has
// DF01 01 01 in it, and a notice list encoded reads back.
func FuzzParseNotices(f *testing.F) {
	f.Add([]byte{0xDF, 0x01, 0x01, 0x01})
	f.Add([]byte{0xDF, 0x22, 0x02, 0xAA, 0xBB, 0xDF, 0x01, 0x01, 0x01})
	f.Add([]byte{0xDF, 0x01, 0x7F})
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := ParseNotices(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		if n.UpdateWaiting && !bytes.Contains(in, []byte{0xDF, 0x01, 0x01, 0x01}) {
			t.Fatalf("update notice read from % X", in)
		}
		if again, err := ParseNotices(n.encode()); err != nil || again != n {
			t.Fatalf("%+v encodes to % X: %+v %v", n, n.encode(), again, err)
		}
	})
}

// TestSetAddr: after SetAddr the next exchange dials the new address and
// the connection to the old one is closed; an exchange under way when the
// address changes ends on the connection it started on.
func TestSetAddr(t *testing.T) {
	d := ASCII87
	var mu sync.Mutex
	seen := map[string]int{}
	slow := make(chan struct{})
	host := func(name string) string {
		return fakeHost(t, d, func(m *iso8583.Message) []byte {
			req, err := d.DecodeRequest(m)
			if err != nil {
				return nil
			}
			mu.Lock()
			seen[name]++
			mu.Unlock()
			if req.STAN == 2 {
				<-slow
			}
			r, _ := d.EncodeResponse(req, Response{ResponseCode: "00"})
			raw, _ := r.Pack()
			return raw
		})
	}
	a, b := host("a"), host("b")
	c, err := New(&Opts{Addr: a, Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Echo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// An exchange under way on a: the address changes meanwhile.
	done := make(chan error, 1)
	go func() { done <- c.Echo(ctx, 2) }()
	for {
		mu.Lock()
		n := seen["a"]
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.SetAddr(b); err != nil || c.Addr() != b {
		t.Fatalf("SetAddr: %v, addr %s", err, c.Addr())
	}
	close(slow)
	if err := <-done; err != nil {
		t.Fatalf("the exchange under way when the address changed: %v", err)
	}
	if err := c.Echo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["a"] != 2 || seen["b"] != 1 {
		t.Fatalf("requests seen: %v", seen)
	}
	if err := c.SetAddr(""); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("SetAddr empty: %v", err)
	}
}

// LinkState tells when the host last answered and why the exchanges
// since failed, and how many in a row; an answer clears the count.
func TestLinkState(t *testing.T) {
	d, _ := LookupDialect(DefaultDialect)
	var mu sync.Mutex
	answer := true
	addr := fakeHost(t, d, func(m *iso8583.Message) []byte {
		mu.Lock()
		defer mu.Unlock()
		if !answer {
			return nil
		}
		req, err := d.DecodeRequest(m)
		if err != nil {
			return nil
		}
		r, _ := d.EncodeResponse(req, Response{ResponseCode: "00"})
		raw, _ := r.Pack()
		return raw
	})
	c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if st := c.LinkState(); !st.LastAnswer.IsZero() || st.Failures != 0 {
		t.Fatalf("before any exchange: %+v", st)
	}
	if err := c.Echo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st := c.LinkState()
	if st.LastAnswer.IsZero() || st.Failures != 0 || st.Failure != "" {
		t.Fatalf("after an answer: %+v", st)
	}
	mu.Lock()
	answer = false
	mu.Unlock()
	for stan := uint32(2); stan < 4; stan++ {
		if err := c.Echo(ctx, stan); !errors.Is(err, ErrNoResponse) {
			t.Fatalf("echo %d: %v", stan, err)
		}
	}
	st = c.LinkState()
	if st.Failures != 2 || st.Failure != "no response" || st.LastFailure.Before(st.LastAnswer) {
		t.Fatalf("after two silences: %+v", st)
	}
	// A caller that gives up says nothing of the link.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c.Echo(cctx, 4)
	if got := c.LinkState(); got.Failures != 2 {
		t.Fatalf("a cancelled exchange counted: %+v", got)
	}
	mu.Lock()
	answer = true
	mu.Unlock()
	if err := c.Echo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if st = c.LinkState(); st.Failures != 0 || st.Failure != "no response" {
		t.Fatalf("after the host came back: %+v", st)
	}
}
