package acquirer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/crypto/dukpt"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

const (
	testPAN    = "4761739001010010"
	testTrack2 = "4761739001010010=25122011143804400000"
	maskedPAN  = "476173******0010"
	testTPDUx  = "6000010000"
)

// syncBuffer is a journal the test can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) entries(t *testing.T) []acquirer.Entry {
	t.Helper()
	var out []acquirer.Entry
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var e acquirer.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal line is not JSON: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// withCards makes the server look cards up with find.
func withCards(find func(string) (deck.Card, bool)) func(*acquirer.Opts) {
	return func(o *acquirer.Opts) { o.Cards = find }
}

// withPIN is the deck's lookup with pin on file for the card of pan.
func withPIN(pan, pin string) func(string) (deck.Card, bool) {
	return func(p string) (deck.Card, bool) {
		c, ok := deck.ByPAN(p)
		if p == pan {
			c.PIN = pin
		}
		return c, ok
	}
}

type rig struct {
	addr    string
	journal *syncBuffer
	srv     *acquirer.Server
	stop    func()
}

// startServer runs the simulator in-process on a free loopback port; opts
// adjust its options.
func startServer(t *testing.T, dialect string, mode wiresec.Mode, tpdu []byte, opts ...func(*acquirer.Opts)) *rig {
	t.Helper()
	j := &syncBuffer{}
	o := acquirer.Opts{Dialect: dialect, Mode: mode, TPDU: tpdu, Journal: j}
	for _, f := range opts {
		f(&o)
	}
	srv, err := acquirer.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if err := srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &rig{addr: ln.Addr().String(), journal: j, srv: srv, stop: stop}
}

// terminal is the DUKPT side of the test terminal.
type terminal struct {
	mode wiresec.Mode
	o    dukpt.Originator
}

func newTerminal(t *testing.T, mode wiresec.Mode) *terminal {
	t.Helper()
	var (
		o   dukpt.Originator
		err error
	)
	bdk := acquirer.DefaultBDK(mode)
	switch mode {
	case wiresec.ModeAES:
		iksn, _ := hex.DecodeString("123456789012345600000000")
		ik, e := dukpt.AESDeriveIK(bdk, iksn)
		if e != nil {
			t.Fatal(e)
		}
		o, err = dukpt.NewAESOriginator(ik, iksn)
	default:
		iksn, _ := hex.DecodeString("FFFF9876543210E00000")
		ik, e := dukpt.TDESDeriveIK(bdk, iksn)
		if e != nil {
			t.Fatal(e)
		}
		o, err = dukpt.NewTDESOriginator(ik, iksn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Wipe)
	return &terminal{mode: mode, o: o}
}

func (tm *terminal) session(t *testing.T) *wiresec.Session {
	t.Helper()
	ksn, key, err := tm.o.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(tm.mode, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	return s
}

func newClient(t *testing.T, dialect, addr string, tpdu []byte) *host.Client {
	t.Helper()
	c, err := host.New(&host.Opts{
		Addr: addr, Dialect: dialect, TPDU: tpdu,
		ConnectTimeout: 5 * time.Second, ResponseTimeout: 2 * time.Second,
		TerminalID: "T0000001", MerchantID: "M00000000000001",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func purchase(stan uint32, amount int64) host.Purchase {
	return host.Purchase{
		STAN: stan, Amount: amount, Currency: "156", EntryMode: "901",
		Track2: []byte(testTrack2), Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
	}
}

func TestEndToEnd(t *testing.T) {
	tpdu, _ := hex.DecodeString(testTPDUx)
	for _, d := range host.DialectNames() {
		for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
			tpdus := [][]byte{nil, tpdu}
			if d == "cup" {
				tpdus = [][]byte{nil} // always a TPDU: the dialect's default
			}
			for _, tp := range tpdus {
				name := fmt.Sprintf("%s/%s/tpdu=%v", d, mode, tp != nil)
				t.Run(name, func(t *testing.T) { endToEnd(t, d, mode, tp) })
			}
		}
	}
}

func endToEnd(t *testing.T, dialect string, mode wiresec.Mode, tpdu []byte) {
	// The deck's card of the test PAN, with a PIN on file.
	r := startServer(t, dialect, mode, tpdu, withCards(withPIN(testPAN, "1234")))
	c := newClient(t, dialect, r.addr, tpdu)
	tm := newTerminal(t, mode)
	ctx := context.Background()

	if err := c.SignOn(ctx, 1); err != nil {
		t.Fatalf("sign-on: %v", err)
	}
	if err := c.Echo(ctx, 2); err != nil {
		t.Fatalf("echo: %v", err)
	}

	// Approval, with an online PIN.
	s := tm.session(t)
	p := purchase(3, 12345_00)
	var err error
	if p.PINBlock, err = s.EncryptPIN("1234", testPAN); err != nil {
		t.Fatal(err)
	}
	res, err := c.Purchase(ctx, p, s)
	if err != nil {
		t.Fatalf("approval: %v", err)
	}
	if !res.Approved() || len(res.AuthCode) != 6 || len(res.RRN) != 12 {
		t.Fatalf("approval: got %+v", res)
	}

	for _, tc := range []struct {
		stan   uint32
		amount int64
		rc     string
	}{{4, 1051, "51"}, {5, 2005, "05"}, {6, 396, "96"}, {7, 1, "00"}} {
		res, err := c.Purchase(ctx, purchase(tc.stan, tc.amount), tm.session(t))
		if err != nil {
			t.Fatalf("amount %d: %v", tc.amount, err)
		}
		if res.ResponseCode != tc.rc {
			t.Fatalf("amount %d: response code %q, want %q", tc.amount, res.ResponseCode, tc.rc)
		}
		if tc.rc != "00" && (res.AuthCode != "" || res.RRN != "") {
			t.Fatalf("decline %s carries auth code or RRN", tc.rc)
		}
	}

	// No response: the caller gets ErrNoResponse and reverses.
	orig := purchase(8, 4091)
	if _, err := c.Purchase(ctx, orig, tm.session(t)); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("amount 4091: got %v, want ErrNoResponse", err)
	}
	rev, err := c.Reverse(ctx, host.Reversal{
		STAN: 9, OrigSTAN: 8, OrigTime: orig.Time, OrigEntryMode: orig.EntryMode, Amount: orig.Amount,
		Currency: "156", Reason: host.ReasonNoResponse,
	}, tm.session(t))
	if err != nil {
		t.Fatalf("reversal: %v", err)
	}
	if rev.ResponseCode != "00" {
		t.Fatalf("reversal answered %q", rev.ResponseCode)
	}

	// A terminal MACing under the wrong key: the host journals mac_ok=false
	// and answers A0; the client cannot verify the answer.
	good := tm.session(t)
	wrongKey := make([]byte, 16)
	wrongKey[0] = 1
	bad, err := wiresec.ForTerminal(mode, good.KSN(), wrongKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Purchase(ctx, purchase(10, 700), bad); !errors.Is(err, host.ErrBadMAC) {
		t.Fatalf("wrong terminal key: got %v, want ErrBadMAC", err)
	}

	// A tampered request on the wire.
	rc := sendTampered(t, dialect, r.addr, tpdu, tm.session(t))
	if rc != acquirer.RCMACFailure {
		t.Fatalf("tampered request answered %q, want %q", rc, acquirer.RCMACFailure)
	}

	// The client recovers after all that.
	if res, err := c.Purchase(ctx, purchase(12, 800), tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("purchase after failures: %+v, %v", res, err)
	}

	r.stop()
	checkJournal(t, dialect, r.journal)
}

// sendTampered builds a valid 0200 for 1.00, changes the amount to 10.00
// after MACing and sends it over a raw connection; it returns the response
// code.
func sendTampered(t *testing.T, dialect, addr string, tpdu []byte, s *wiresec.Session) string {
	t.Helper()
	d, err := host.LookupDialect(dialect)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := s.EncryptRequestData([]byte(testTrack2))
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.EncodeRequest(host.Request{
		Kind: host.KindPurchase, STAN: 11, Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		TerminalID: "T0000001", MerchantID: "M00000000000001", Amount: 100, Currency: "156",
		Mode: s.Mode(), KSN: s.KSN(), Track2Enc: enc,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := d.Seal(m, s.MACRequest)
	if err != nil {
		t.Fatal(err)
	}
	// DE4 as packed: 12 ASCII digits (ascii87) or 6 BCD bytes (cup).
	was, now := []byte("000000000100"), []byte("000000001000")
	if dialect == "cup" {
		was, now = []byte{0, 0, 0, 0, 0x01, 0x00}, []byte{0, 0, 0, 0, 0x10, 0x00}
	}
	i := bytes.Index(raw, was)
	if i < 0 {
		t.Fatal("amount not found in packed message")
	}
	copy(raw[i:], now) // 1.00 -> 10.00 after the MAC was computed

	fr, err := d.NewFramer(tpdu)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := fr.WriteFrame(nc, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := fr.ReadMessage(bufio.NewReader(nc))
	if err != nil {
		t.Fatalf("reading response to tampered request: %v", err)
	}
	if mti, _ := resp.GetMTI(); mti != host.MTIPurchaseResponse {
		t.Fatalf("response MTI %q", mti)
	}
	rc, _ := resp.GetString(host.DEResponseCode)
	return rc
}

func checkJournal(t *testing.T, dialect string, j *syncBuffer) {
	t.Helper()
	text := j.String()
	if strings.Contains(text, testPAN) || strings.Contains(text, "=2512") {
		t.Fatal("journal contains a full PAN or track data")
	}
	var (
		seen       = map[string]int{}
		tamperedIn bool
		dropped    bool
		revIn      bool
		pinOK      bool
	)
	for _, e := range j.entries(t) {
		seen[e.Direction+" "+e.MTI]++
		if e.Dialect != dialect {
			t.Errorf("journal line of dialect %q, want %q", e.Dialect, dialect)
		}
		if e.Kind == string(host.KindPurchase) {
			if e.MACOK == nil {
				t.Errorf("%s %s stan %s has no mac_ok", e.Direction, e.MTI, e.STAN)
			}
			if e.MaskedPAN != "" && e.MaskedPAN != maskedPAN {
				t.Errorf("masked_pan %q, want %q", e.MaskedPAN, maskedPAN)
			}
			if e.MACOK != nil && *e.MACOK && e.MaskedPAN != maskedPAN {
				t.Errorf("stan %s: verified purchase without masked PAN", e.STAN)
			}
		}
		if e.TerminalID != "T0000001" {
			t.Errorf("terminal_id %q", e.TerminalID)
		}
		if e.Direction == "in" && e.STAN == "000011" && e.MACOK != nil && !*e.MACOK {
			tamperedIn = true
		}
		if e.Direction == "drop" && e.STAN == "000008" && e.Amount == 4091 {
			dropped = true
		}
		if e.Direction == "in" && e.MTI == host.MTIReversal && e.OrigSTAN == "000008" && e.MACOK != nil && *e.MACOK && !e.Duplicate {
			revIn = true
		}
		if e.STAN == "000003" && e.PINOK != nil && *e.PINOK {
			pinOK = true
		}
	}
	if !tamperedIn || !dropped || !revIn || !pinOK {
		t.Errorf("journal misses entries: tampered=%v drop91=%v reversal=%v pin=%v", tamperedIn, dropped, revIn, pinOK)
	}
	// 9 purchases in (STAN 3 to 8, 10 to 12), 8 answered, 2 network, 1 reversal.
	want := map[string]int{"in 0800": 2, "out 0810": 2, "in 0200": 9, "out 0210": 8, "drop 0200": 1, "in 0400": 1, "out 0410": 1}
	if dialect == "cup" { // echo test is an 0820
		want["in 0800"], want["out 0810"], want["in 0820"], want["out 0830"] = 1, 1, 1, 1
	}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("journal has %d %q lines, want %d (all: %v)", seen[k], k, n, seen)
		}
	}
}

// TestReversalDeduplication: the same reversal sent three times (the
// dialect's repeat form from the second on) undoes the original once;
// repeats are answered like the first and journaled as duplicates. A
// reversal of another original is not a duplicate.
func TestReversalDeduplication(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			r := startServer(t, d, wiresec.ModeAES, nil)
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			ctx := context.Background()
			orig := purchase(30, 4091)
			if _, err := c.Purchase(ctx, orig, tm.session(t)); !errors.Is(err, host.ErrNoResponse) {
				t.Fatalf("amount 4091: %v", err)
			}
			rev := host.Reversal{
				STAN: 31, OrigSTAN: 30, OrigTime: orig.Time, OrigEntryMode: orig.EntryMode, Amount: orig.Amount,
				Currency: "156", Reason: host.ReasonNoResponse,
			}
			for i := range 3 {
				rev.Repeat = i > 0
				res, err := c.Reverse(ctx, rev, tm.session(t))
				if err != nil || res.ResponseCode != "00" {
					t.Fatalf("attempt %d: %+v %v", i+1, res, err)
				}
			}
			other := rev
			other.STAN, other.OrigSTAN, other.Repeat = 33, 32, false
			if res, err := c.Reverse(ctx, other, tm.session(t)); err != nil || res.ResponseCode != "00" {
				t.Fatalf("other original: %+v %v", res, err)
			}
			r.stop()
			var first, dups, others int
			for _, e := range r.journal.entries(t) {
				if e.Kind != string(host.KindReversal) {
					continue
				}
				if e.ResponseCode == "" && e.Direction == "out" {
					t.Errorf("reversal answer without response code: %+v", e)
				}
				switch {
				case e.OrigSTAN == "000032":
					if e.Duplicate {
						t.Errorf("reversal of another original marked duplicate: %+v", e)
					}
					others++
				case e.Duplicate:
					dups++
				default:
					first++
				}
				if d == "ascii87" && e.Direction == "in" && e.Duplicate && e.MTI != host.MTIReversalRepeat {
					t.Errorf("ascii87 repeat sent as %s", e.MTI)
				}
				if d == "cup" && e.Direction == "in" && (e.MTI != "0400" || e.STAN != e.OrigSTAN) {
					t.Errorf("cup reversal %s with STAN %s, want 0400 with the original's", e.MTI, e.STAN)
				}
			}
			if first != 2 || dups != 4 || others != 2 {
				t.Fatalf("journal: %d first, %d duplicate, %d other reversal lines; want 2, 4, 2", first, dups, others)
			}
		})
	}
}

func TestHostDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "", addr, nil)
	tm := newTerminal(t, wiresec.ModeAES)
	if _, err := c.Purchase(context.Background(), purchase(1, 100), tm.session(t)); !errors.Is(err, host.ErrUnreachable) {
		t.Fatalf("purchase to a closed port: got %v, want ErrUnreachable", err)
	}
	if err := c.SignOn(context.Background(), 2); !errors.Is(err, host.ErrUnreachable) {
		t.Fatalf("sign-on to a closed port: got %v, want ErrUnreachable", err)
	}
}

func TestReconnectAfterHostRestart(t *testing.T) {
	r := startServer(t, "", wiresec.ModeAES, nil)
	c := newClient(t, "", r.addr, nil)
	ctx := context.Background()
	if err := c.SignOn(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.stop()
	// The old connection is gone; whatever the client sees now must be a
	// typed error, and it must not hang.
	if err := c.Echo(ctx, 2); !errors.Is(err, host.ErrUnreachable) && !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("echo to stopped host: %v", err)
	}
	// Same port again.
	srv, err := acquirer.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Skipf("port not reusable: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	defer func() { cancel(); <-done; _ = srv.Close() }()
	var lastErr error
	for i := range 3 { // a stale connection may cost one attempt
		if lastErr = c.Echo(ctx, uint32(3+i)); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("client did not reconnect: %v", lastErr)
	}
}

func TestTPDUMismatchIsNoResponse(t *testing.T) {
	tpdu, _ := hex.DecodeString(testTPDUx)
	r := startServer(t, "", wiresec.ModeAES, nil)
	c := newClient(t, "", r.addr, tpdu)
	if err := c.SignOn(context.Background(), 1); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("TPDU on one side only: got %v, want ErrNoResponse", err)
	}
	r.stop()
	if !strings.Contains(r.journal.String(), `"note":"malformed message dropped"`) {
		t.Fatalf("malformed request not journaled: %s", r.journal.String())
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := acquirer.New(&acquirer.Opts{Mode: "des"}); !errors.Is(err, acquirer.ErrConfig) {
		t.Errorf("mode des: %v", err)
	}
	if _, err := acquirer.New(&acquirer.Opts{BDK: make([]byte, 8)}); !errors.Is(err, acquirer.ErrConfig) {
		t.Errorf("short BDK: %v", err)
	}
	if _, err := acquirer.New(&acquirer.Opts{TPDU: []byte{0x61, 0, 0, 0, 0}}); !errors.Is(err, acquirer.ErrConfig) {
		t.Errorf("bad TPDU: %v", err)
	}
	if _, err := acquirer.New(&acquirer.Opts{Dialect: "iso93"}); !errors.Is(err, acquirer.ErrConfig) {
		t.Errorf("unknown dialect: %v", err)
	}
	for _, rate := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := acquirer.New(&acquirer.Opts{AdviceRate: rate}); !errors.Is(err, acquirer.ErrConfig) {
			t.Errorf("advice rate %v: %v", rate, err)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	for in, want := range map[string]string{
		"4761739001010010":    "476173******0010",
		"476173900101":        "476173**0101",
		"4761739001010010123": "476173*********0123",
		"12345":               "*****",
		"47617390010100a0":    "****************",
	} {
		if got := acquirer.MaskPAN(in); got != want {
			t.Errorf("MaskPAN(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkPurchaseRoundTrip measures one 0200/0210 over loopback with key
// derivation and MACs on both ends.
func BenchmarkPurchaseRoundTrip(b *testing.B) {
	srv, err := acquirer.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done; _ = srv.Close() }()
	c, err := host.New(&host.Opts{Addr: ln.Addr().String(), ResponseTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	iksn, _ := hex.DecodeString("123456789012345600000000")
	ik, _ := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		b.Fatal(err)
	}
	stan := uint32(0)
	for b.Loop() {
		ksn, key, err := o.Next()
		if err != nil {
			b.Fatal(err)
		}
		s, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
		if err != nil {
			b.Fatal(err)
		}
		stan = stan%999999 + 1
		if res, err := c.Purchase(ctx, purchase(stan, 1000), s); err != nil || !res.Approved() {
			b.Fatalf("%+v %v", res, err)
		}
		s.Wipe()
	}
}

// slowJournal takes its time over each line, as a loaded disk does.
type slowJournal struct{ syncBuffer }

func (s *slowJournal) Write(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	return s.syncBuffer.Write(p)
}

// TestAnswerJournaledBeforeItIsSent: when the terminal has the answer,
// its "out" line is in the journal (a tool or a test reading the journal
// after the terminal's exchange finds the whole exchange).
func TestAnswerJournaledBeforeItIsSent(t *testing.T) {
	j := &slowJournal{}
	r := startServer(t, "ascii87", wiresec.ModeAES, nil, func(o *acquirer.Opts) { o.Journal = j })
	c := newClient(t, "ascii87", r.addr, nil)
	for stan := uint32(1); stan <= 3; stan++ {
		if err := c.Echo(context.Background(), stan); err != nil {
			t.Fatal(err)
		}
		if got := j.entries(t); len(got) != int(2*stan) || got[len(got)-1].Direction != "out" {
			t.Fatalf("after echo %d the journal has %d lines: %+v", stan, len(got), got)
		}
	}
}
