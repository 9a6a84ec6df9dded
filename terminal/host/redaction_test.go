package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"posd/internal/testhex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"
	isoerrors "github.com/moov-io/iso8583/errors"

	"posd/terminal/wiresec"
)

// syncBuf is a log sink the link's goroutines may write to.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cardData are the forms the test card's data could take in a text.
var cardData = []string{
	testPAN, testTrack2, "=2512", "25122011143804400000",
	strings.ToUpper(hex.EncodeToString([]byte(testPAN))), hex.EncodeToString([]byte(testPAN)),
}

func assertClean(t *testing.T, what, text string) {
	t.Helper()
	forms := cardData
	for i := 0; i+8 <= len(testPAN); i++ { // any 8 digits of the PAN in a row
		forms = append(forms, testPAN[i:i+8])
	}
	for _, s := range forms {
		if strings.Contains(text, s) {
			t.Errorf("%s shows card data (%.6s...): %s", what, s, text)
		}
	}
}

// TestErrorsCarryNoCardData runs the test card through every error path of
// the package and checks that no error text (nor the link's debug log)
// shows its PAN or track, while the errors keep their class and cause.
func TestErrorsCarryNoCardData(t *testing.T) {
	var errs []error
	collect := func(what string, err error, class error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if class != nil && !errors.Is(err, class) {
			t.Errorf("%s: %v does not match %v", what, err, class)
		}
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	logs := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	for _, d := range testDialects {
		term, hst := sessions(t, 1)
		pan := []byte(testPAN)
		track := []byte(testTrack2)

		// Encoding: card data where it does not belong.
		for name, req := range map[string]Request{
			"pan as terminal id":  {Kind: KindEcho, STAN: 1, TerminalID: testPAN, MerchantID: "M00000000000001"},
			"track as merchant":   {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: testTrack2, Currency: "156", KSN: term.KSN()},
			"pan as currency":     {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: testPAN, KSN: term.KSN()},
			"pan as entry mode":   {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", EntryMode: testPAN, KSN: term.KSN()},
			"track as KSN":        {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", KSN: track},
			"pan as ICC (long)":   {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", KSN: term.KSN(), ICC: bytes.Repeat(pan, 20)},
			"track as reason":     {Kind: KindReversal, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", KSN: term.KSN(), Reason: ReversalReason(testTrack2 + "\n")},
			"track as orig KSN":   {Kind: KindReversal, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", KSN: term.KSN(), OrigKSN: bytes.Repeat(track, 3)},
			"track as enc. track": {Kind: KindPurchase, STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156", KSN: term.KSN(), Track2Enc: bytes.Repeat(track, 3)},
		} {
			if d == ASCII87 && name == "track as orig KSN" {
				continue // ascii87 does not send the original's KSN
			}
			_, err := d.EncodeRequest(req)
			collect(d.Name+" encode "+name, err, ErrInvalidRequest)
		}

		// Decoding: messages carrying the PAN in a field the dialect does
		// not define, or in fields where it cannot be.
		var withPAN [][]byte
		if d == ASCII87 {
			withPAN = append(withPAN,
				append(append([]byte("0200"), 0x40, 0, 0, 0, 0, 0, 0, 0), []byte("16"+testPAN)...),
				append(append([]byte("0200"), 0x10, 0, 0, 0, 0, 0, 0, 0), []byte(testPAN[:12])...),    // DE4 only
				append(append([]byte("0200"), 0, 0, 0x20, 0, 0, 0, 0, 0), []byte("37"+testTrack2)...), // DE35
			)
		} else {
			withPAN = append(withPAN,
				append([]byte{0x02, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x16}, testhex.Must(testPAN)...),
				append([]byte{0x02, 0x00, 0, 0, 0x20, 0, 0, 0, 0, 0, 0x37}, []byte(testTrack2)...),
				append([]byte{0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0x37}, []byte(testTrack2)...), // DE62 too short for its length
			)
		}
		for i, raw := range withPAN {
			m, err := d.Decode(raw)
			if err != nil {
				collect(fmt.Sprintf("%s decode %d", d, i), err, ErrMalformed)
				var ue *isoerrors.UnpackError
				if !errors.As(err, &ue) && i == 0 {
					t.Errorf("%s: the library's unpack error is not kept as the cause", d)
				}
				continue
			}
			_, err = d.DecodeRequest(m)
			collect(fmt.Sprintf("%s decode request %d", d, i), err, ErrMalformed)
		}

		// A request whose fields hold card data in place of numbers.
		m := iso8583.NewMessage(d.Spec)
		m.MTI(MTIPurchase)
		_ = m.Field(DESTAN, "000001")
		if d == ASCII87 {
			_ = m.Field(DEAmount, "47617390=251")
		} else {
			_ = m.Field(DEAmount, testPAN[:12])
			_ = m.Field(DESecurity, "4761739001010010")
		}
		_, err := d.DecodeRequest(m)
		collect(d.Name+" request with card data in numbers", err, ErrMalformed)

		// Responses: garbage around the PAN, a bad MAC, mismatches.
		want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: 1000, hasAmount: true}
		_, err = d.parseResponse(append([]byte("0210"), pan...), want, term)
		collect(d.Name+" response garbage", err, ErrBadResponse)
		good := sealedResponse(t, d, hst, 42, "T0000001", "00")
		bad := bytes.Clone(good)
		bad[len(bad)-1] ^= 1
		_, err = d.parseResponse(bad, want, term)
		collect(d.Name+" response bad MAC", err, ErrBadMAC)
		_, err = d.parseResponse(sealedResponse(t, d, hst, 43, "T0000001", "00"), want, term)
		collect(d.Name+" response wrong STAN", err, ErrBadResponse)

		// Framing.
		fr, _ := d.NewFramer([]byte{0x60, 0, 1, 0, 2})
		_, err = fr.ReadMessage(bytes.NewReader(append([]byte{0, byte(len(testTrack2))}, track...)))
		collect(d.Name+" frame", err, ErrMalformed)

		// The client, against a host that answers with garbage carrying
		// the PAN, with a wrong MAC, not at all, or hangs up.
		clientPaths(t, d, logger, collect)
	}
	for _, err := range errs {
		assertClean(t, "error", err.Error())
		assertClean(t, "error", fmt.Sprintf("%+v", err))
	}
	assertClean(t, "log", logs.String())
	if !strings.Contains(logs.String(), "acquirer") {
		t.Error("nothing logged: the log check proves nothing")
	}
}

func clientPaths(t *testing.T, d *Dialect, logger *slog.Logger, collect func(string, error, error)) {
	term, _ := sessions(t, 2)
	_, wrong := sessions(t, 3)
	addr := fakeHost(t, d, func(m *iso8583.Message) []byte {
		req, err := d.DecodeRequest(m)
		if err != nil {
			return nil
		}
		switch req.STAN {
		case 1: // garbage with the PAN in it
			return append([]byte{0x02, 0x10}, []byte(testTrack2)...)
		case 2: // MACed under another key
			return sealedResponse(t, d, wrong, req.STAN, "T0000001", "00")
		}
		return nil
	})
	c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 5 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := func(stan uint32) Purchase {
		return Purchase{STAN: stan, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}
	}
	// The unanswered calls end by their context: the response timeout is
	// long, so an answer on a loaded machine is never taken for none.
	waitFor := func(stan uint32) error {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.Purchase(wctx, p(stan), term)
		return err
	}
	collect(d.Name+" client garbage answer", waitFor(1), ErrUnreadable)
	_, err = c.Purchase(ctx, p(2), term)
	collect(d.Name+" client wrong key", err, ErrBadMAC)
	collect(d.Name+" client no answer", waitFor(3), ErrNoResponse)

	// Input errors with card data in them.
	long := p(4)
	long.Track2 = []byte(testTrack2 + testTrack2)
	_, err = c.Purchase(ctx, long, term)
	collect(d.Name+" client long track", err, ErrInvalidRequest)
	pin := p(4)
	pin.PINBlock = []byte(testPAN)[:8]
	_, err = c.Purchase(ctx, pin, term)
	collect(d.Name+" client PIN block", err, ErrInvalidRequest)
	cur := p(4)
	cur.Currency = testPAN
	_, err = c.Purchase(ctx, cur, term)
	collect(d.Name+" client currency", err, ErrInvalidRequest)
	_, err = c.Reverse(ctx, Reversal{STAN: 5, OrigSTAN: 4, Amount: 1000, Currency: "156", Reason: ReversalReason(testTrack2 + "\x00")}, term)
	collect(d.Name+" client reason", err, ErrInvalidRequest)
	wiped, _ := sessions(t, 4)
	wiped.Wipe()
	_, err = c.Purchase(ctx, p(6), wiped)
	collect(d.Name+" client wiped session", err, nil)

	// Unreachable: a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	c2, err := New(&Opts{Addr: closed, Dialect: d.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.Purchase(ctx, p(7), term)
	collect(d.Name+" client unreachable", err, ErrUnreachable)
}

// TestAdviceCarriesNoCardData: an advice on the wire holds the track only
// encrypted, and no error of the advice's paths (input, encoding,
// decoding, answers) nor the client's log shows the test card's PAN or
// track, even when the card data is passed where it does not belong.
func TestAdviceCarriesNoCardData(t *testing.T) {
	var errs []error
	collect := func(what string, err error, class error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if class != nil && !errors.Is(err, class) {
			t.Errorf("%s: %v does not match %v", what, err, class)
		}
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	logs := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, d := range testDialects {
		h := &adviceHost{t: t, d: d}
		addr := fakeHost(t, d, h.reply)
		c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 5 * time.Second, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		send := func(a Advice, n int) (Result, error) {
			term, _ := sessions(t, n)
			return c.Advice(ctx, a, term)
		}
		if res, err := send(testAdvice(1), 1); err != nil || !res.Approved() {
			t.Fatalf("%s: advice: %+v %v", d, res, err)
		}
		_, err = send(testAdvice(3), 2)
		collect(d.Name+" answer for another ref", err, ErrBadResponse)
		_, err = send(testAdvice(5), 3)
		collect(d.Name+" answer under a wrong key", err, ErrBadMAC)

		// Card data where it does not belong.
		for name, f := range map[string]func(*Advice){
			"pan as ref":      func(a *Advice) { a.Ref = testPAN },
			"track as ref":    func(a *Advice) { a.Ref = testTrack2 },
			"pan as currency": func(a *Advice) { a.Currency = testPAN },
			"pan as entry":    func(a *Advice) { a.EntryMode = testPAN },
			"track as rc":     func(a *Advice) { a.ResponseCode = testTrack2 },
			"long track":      func(a *Advice) { a.Track2 = []byte(testTrack2 + testTrack2) },
			"pan in ICC":      func(a *Advice) { a.ICC = testhex.Must("5A08" + testPAN) },
			"track in ICC": func(a *Advice) {
				a.ICC = append(testhex.Must("5713"), testhex.Must(strings.Replace(testTrack2, "=", "D", 1)+"F")...)
			},
			"ICC with the pan": func(a *Advice) { a.ICC = bytes.Repeat([]byte(testPAN), 20) },
		} {
			a := testAdvice(4)
			f(&a)
			_, err := send(a, 4)
			collect(d.Name+" "+name, err, ErrInvalidRequest)
		}
		term, _ := sessions(t, 5)
		_, err = c.Advice(ctx, testAdvice(6), nil)
		collect(d.Name+" no session", err, ErrInvalidRequest)
		// The dialect: a request that holds the track in DE37 as it is read.
		req := adviceRequest(1, term.KSN())
		m, err := d.EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Field(DERRN, testPAN[:12])
		_ = m.Field(DEResponseCode, "=2")
		_, err = d.DecodeRequest(m)
		collect(d.Name+" request with card data in DE39", err, ErrMalformed)
		_ = m.Field(DERRN, "=25122011143")
		_ = m.Field(DEResponseCode, "Y1")
		_, err = d.DecodeRequest(m)
		collect(d.Name+" request with card data in DE37", err, ErrMalformed)
		_ = c.Close()

		// On the wire: the advices the host read hold neither the PAN nor
		// the track, in any encoding.
		h.mu.Lock()
		raws := h.raw
		h.mu.Unlock()
		if len(raws) != 3 {
			t.Fatalf("%s: host read %d advices, want 3", d, len(raws))
		}
		for _, raw := range raws {
			for _, form := range [][]byte{[]byte(testPAN), testhex.Must(testPAN), []byte(testTrack2), []byte(testPAN[:8])} {
				if bytes.Contains(raw, form) {
					t.Fatalf("%s: card data on the wire", d)
				}
			}
		}
	}
	for _, err := range errs {
		assertClean(t, "error", err.Error())
		assertClean(t, "error", fmt.Sprintf("%+v", err))
	}
	assertClean(t, "log", logs.String())
	if !strings.Contains(logs.String(), "acquirer") {
		t.Error("nothing logged: the log check proves nothing")
	}
}

// TestKindsCarryNoCardData: the messages of kinds.go on the wire hold the
// track only encrypted (refund, pre-authorization, balance inquiry) or no
// card data at all (void, completion, settlement, batch upload, their
// reversals), and no error of their paths (input, encoding, decoding,
// answers) nor the client's log shows the test card's PAN or track, even
// when card data is passed where it does not belong.
func TestKindsCarryNoCardData(t *testing.T) {
	var errs []error
	collect := func(what string, err error, class error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if class != nil && !errors.Is(err, class) {
			t.Errorf("%s: %v does not match %v", what, err, class)
		}
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	logs := &syncBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, d := range testDialects {
		h := &kindHost{t: t, d: d}
		c, err := New(&Opts{Addr: fakeHost(t, d, h.reply), Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 5 * time.Second, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		n := 0
		sess := func() *wiresec.Session {
			n++
			term, _ := sessions(t, n)
			return term
		}
		bal := testCard(KindBalance, 5)
		bal.Amount = 0
		// Every kind once, approved.
		for what, call := range map[string]func() (Result, error){
			"refund":     func() (Result, error) { return c.Purchase(ctx, testCard(KindRefund, 1), sess()) },
			"preauth":    func() (Result, error) { return c.Purchase(ctx, testCard(KindPreauth, 2), sess()) },
			"balance":    func() (Result, error) { return c.Purchase(ctx, bal, sess()) },
			"void":       func() (Result, error) { return c.FollowUp(ctx, testReference(KindVoid, 3, ""), sess()) },
			"completion": func() (Result, error) { return c.FollowUp(ctx, testReference(KindCompletion, 4, ""), sess()) },
			"settlement": func() (Result, error) { return c.Settle(ctx, testSettlement(6, false), sess()) },
			"upload":     func() (Result, error) { return c.Upload(ctx, testUpload(7, ""), sess()) },
			"reversal": func() (Result, error) {
				return c.Reverse(ctx, Reversal{STAN: 8, OrigKind: KindVoid, OrigSTAN: 8, Amount: 1000, Currency: "156", Reason: ReasonNoResponse}, sess())
			},
		} {
			if res, err := call(); err != nil || !res.Approved() {
				t.Fatalf("%s %s: %+v %v", d, what, res, err)
			}
		}
		// Answers that are refused.
		_, err = c.FollowUp(ctx, testReference(KindVoid, 101, ""), sess())
		collect(d.Name+" void, other amount", err, ErrBadResponse)
		_, err = c.Upload(ctx, testUpload(102, ""), sess())
		collect(d.Name+" upload under a wrong key", err, ErrBadMAC)
		bal.STAN = 104
		_, err = c.Purchase(ctx, bal, sess())
		collect(d.Name+" balance, malformed DE54", err, ErrBadResponse)

		// Card data where it does not belong.
		for name, call := range map[string]func() (Result, error){
			"pan as refund's RRN": func() (Result, error) {
				p := testCard(KindRefund, 9)
				p.Orig = Original{STAN: 1, RRN: testPAN}
				return c.Purchase(ctx, p, sess())
			},
			"track as refund's auth code": func() (Result, error) {
				p := testCard(KindRefund, 9)
				p.Orig = Original{STAN: 1, AuthCode: testTrack2}
				return c.Purchase(ctx, p, sess())
			},
			"pan as preauth currency": func() (Result, error) {
				p := testCard(KindPreauth, 9)
				p.Currency = testPAN
				return c.Purchase(ctx, p, sess())
			},
			"long track in a balance inquiry": func() (Result, error) {
				p := testCard(KindBalance, 9)
				p.Amount, p.Track2 = 0, []byte(testTrack2+testTrack2)
				return c.Purchase(ctx, p, sess())
			},
			"pan in a refund's ICC": func() (Result, error) {
				p := testCard(KindRefund, 9)
				p.ICC = testhex.Must("5A08" + testPAN)
				return c.Purchase(ctx, p, sess())
			},
			"pan as void's RRN": func() (Result, error) {
				r := testReference(KindVoid, 9, "")
				r.Orig.RRN = testPAN
				return c.FollowUp(ctx, r, sess())
			},
			"track as completion's auth code": func() (Result, error) {
				r := testReference(KindCompletion, 9, "")
				r.Orig.AuthCode = testTrack2
				return c.FollowUp(ctx, r, sess())
			},
			"pan as void's entry mode": func() (Result, error) {
				r := testReference(KindVoid, 9, "")
				r.EntryMode = testPAN
				return c.FollowUp(ctx, r, sess())
			},
			"pan as settlement currency": func() (Result, error) {
				s := testSettlement(9, false)
				s.Currency = testPAN
				return c.Settle(ctx, s, sess())
			},
			"track as upload ref": func() (Result, error) {
				u := testUpload(9, "")
				u.Ref = testTrack2
				return c.Upload(ctx, u, sess())
			},
			"pan as upload ref": func() (Result, error) {
				u := testUpload(9, "")
				u.Ref = testPAN
				return c.Upload(ctx, u, sess())
			},
			"pan as upload's RRN": func() (Result, error) {
				u := testUpload(9, "")
				u.Orig.RRN = testPAN
				return c.Upload(ctx, u, sess())
			},
		} {
			_, err := call()
			collect(d.Name+" "+name, err, ErrInvalidRequest)
		}
		// The dialect: follow-ups carrying the track, card data in DE37.
		term, _ := sessions(t, 50)
		for _, req := range kindRequests(term.KSN()) {
			if cardPresent(req.Kind) || req.Kind == KindReversal || req.Kind == KindSettlement {
				continue
			}
			req.Track2Enc = []byte(testTrack2)
			_, err := d.EncodeRequest(req)
			collect(d.Name+" encode "+string(req.Kind)+" with a track", err, ErrInvalidRequest)
			req.Track2Enc = nil
			m, err := d.EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = m.BinaryField(DETrack2Enc, []byte(testTrack2))
			_, err = d.DecodeRequest(m)
			collect(d.Name+" decode "+string(req.Kind)+" with a track", err, ErrMalformed)
			m.UnsetField(DETrack2Enc)
			_ = m.Field(DERRN, "=25122011143")
			_, err = d.DecodeRequest(m)
			collect(d.Name+" decode "+string(req.Kind)+" with card data in DE37", err, ErrMalformed)
		}
		_ = c.Close()

		// On the wire: nothing the host read holds the PAN or the track,
		// in any encoding; what reads no card carries no card field.
		h.mu.Lock()
		raws, seen := h.raw, h.seen
		h.mu.Unlock()
		if len(raws) < 10 {
			t.Fatalf("%s: host read %d messages", d, len(raws))
		}
		for i, raw := range raws {
			for _, form := range [][]byte{[]byte(testPAN), testhex.Must(testPAN), []byte(testTrack2), []byte(testPAN[:8]), testhex.Must(testPAN[:8])} {
				if bytes.Contains(raw, form) {
					t.Fatalf("%s: card data on the wire (%s)", d, seen[i].Kind)
				}
			}
			if r := seen[i]; !cardPresent(r.Kind) && (len(r.Track2Enc) > 0 || len(r.PINBlock) > 0 || len(r.ICC) > 0) {
				t.Fatalf("%s: card fields in a %s", d, r.Kind)
			}
		}
	}
	for _, err := range errs {
		assertClean(t, "error", err.Error())
		assertClean(t, "error", fmt.Sprintf("%+v", err))
	}
	assertClean(t, "log", logs.String())
	if !strings.Contains(logs.String(), "acquirer") {
		t.Error("nothing logged: the log check proves nothing")
	}
}
