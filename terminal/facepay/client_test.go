package facepay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"posd/terminal/linksig"
)

const testAccount = "6230580000001234"

var testKey = []byte("face-pay link key of T0000009..")

// stub answers every path with a fixed status and body, signed under
// testKey and bound to the request (unless unsigned), and keeps the last
// request and whether its signature verified.
type stub struct {
	status   int
	body     string
	unsigned bool
	path     string
	req      []byte
	signedOK error
	terminal string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.path = r.URL.Path
	s.req, _ = io.ReadAll(r.Body)
	s.terminal = r.Header.Get(HeaderTerminal)
	sig := r.Header.Get(HeaderSignature)
	s.signedOK = linksig.VerifyRequest(testKey, r.URL.Path, s.terminal, r.Header.Get(HeaderTimestamp), sig, s.req, time.Now(), linksig.Window)
	if !s.unsigned {
		w.Header().Set(HeaderSignature, linksig.SignResponse(testKey, r.URL.Path, sig, []byte(s.body)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.body)
}

func newClient(t *testing.T, h http.Handler, log *slog.Logger) *HTTPClient {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewHTTP(HTTPOpts{BaseURL: srv.URL + "/", TerminalID: "T0000009", Key: testKey, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func identifyReq() IdentifyRequest {
	return IdentifyRequest{OrderID: "F1", Amount: 8800, Currency: "156", Sealed: bytes.Repeat([]byte{0xA5}, 100),
		Liveness: map[string]float64{"blink": 0.9}, Challenge: "blink", ConsentAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestIdentify(t *testing.T) {
	var logs bytes.Buffer
	s := &stub{status: 200, body: `{"order_id":"F1","session":"S1","masked":"6230****1234"}`}
	c := newClient(t, s, slog.New(slog.NewTextHandler(&logs, nil)))
	cand, err := c.Identify(context.Background(), identifyReq())
	if err != nil || cand.Session != "S1" || cand.Masked != "6230****1234" {
		t.Fatalf("%#v %v", cand, err)
	}
	if s.path != PathIdentify || s.signedOK != nil || s.terminal != "T0000009" {
		t.Fatal(s.path, s.signedOK, s.terminal)
	}
	var body IdentifyBody
	if err := DecodeStrict(s.req, MaxRequestBody, &body); err != nil {
		t.Fatal(err)
	}
	if body.TerminalID != "T0000009" || body.OrderID != "F1" || body.Amount != 8800 || !bytes.Equal(body.Sealed, identifyReq().Sealed) ||
		!body.ConsentAt.Equal(identifyReq().ConsentAt) || body.Liveness["blink"] != 0.9 {
		t.Fatalf("sent %+v", body)
	}
	j, _ := json.Marshal(cand)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cand", cand)
	for _, out := range []string{cand.String(), fmt.Sprint(cand), fmt.Sprintf("%+v", cand), fmt.Sprintf("%#v", cand),
		fmt.Sprintf("%v", &cand), string(j), logs.String()} {
		if strings.Contains(out, testAccount) || strings.Contains(out, "0000001") {
			t.Errorf("account printed: %s", out)
		}
	}
	if !strings.Contains(cand.String(), "6230****1234") {
		t.Error(cand.String())
	}
}

func TestIdentifyRefusals(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   error
	}{
		{404, `{"code":"no_match"}`, ErrNoMatch},
		{403, `{"code":"over_limit","reason":"over 1000.00"}`, ErrOverLimit},
		{403, `{"order_id":"F1","code":"locked"}`, ErrLocked},
		{400, `{"code":"bad_envelope"}`, ErrRejected},
		{409, `{"code":"order_mismatch"}`, ErrRejected},
		{500, `oops`, ErrUnavailable},
		{503, ``, ErrUnavailable},
		{401, `{"code":"bad_signature"}`, ErrRejected},
		{409, `{"code":"ksn_reused"}`, ErrRejected},
		{200, `{"order_id":"F2","session":"S1","masked":"6230****1234"}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"6230****1234","extra":1}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"6230****1234"} {}`, ErrBadResponse},
		{200, `{"order_id":"F1","code":"no_match"}`, ErrBadResponse},
		{404, `{"order_id":"F1"}`, ErrBadResponse},
		{302, `{}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"6230****1234` + strings.Repeat("x", 5000) + `"}`, ErrBadResponse},
		// The account number is not the terminal's business: an answer
		// with one is refused, however it is spelt.
		{200, `{"order_id":"F1","session":"S1","account":"` + testAccount + `","masked":"6230****1234"}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"` + testAccount + `"}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"6230 5800 **** 1234 5"}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1","masked":"no stars"}`, ErrBadResponse},
		{200, `{"order_id":"F1","session":"S1"}`, ErrBadResponse},
	} {
		c := newClient(t, &stub{status: tc.status, body: tc.body}, nil)
		_, err := c.Identify(context.Background(), identifyReq())
		if !errors.Is(err, tc.want) {
			t.Errorf("%d %s: %v, want %v", tc.status, tc.body, err, tc.want)
		}
		if errors.Is(err, ErrBadResponse) && !errors.Is(err, ErrUnavailable) {
			t.Errorf("bad response is not unavailable: %v", err)
		}
		if err != nil && strings.Contains(err.Error(), testAccount) {
			t.Errorf("error quotes the account: %v", err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewHTTP(HTTPOpts{BaseURL: url, TerminalID: "T1", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Identify(context.Background(), identifyReq()); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	if _, err := c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
}

func confirmReq() ConfirmRequest {
	return ConfirmRequest{Session: "S1", OrderID: "F1", Amount: 8800, Currency: "156", PINBlock: make([]byte, 16), KSN: make([]byte, 12)}
}

func TestConfirm(t *testing.T) {
	s := &stub{status: 200, body: `{"order_id":"F1","status":"approved","platform_txn_id":"FP000000000001","amount":8800,"currency":"156"}`}
	c := newClient(t, s, nil)
	res, err := c.Confirm(context.Background(), confirmReq())
	if err != nil || res.Status != StatusApproved || res.PlatformTxnID != "FP000000000001" || res.Amount != 8800 || res.Currency != "156" {
		t.Fatalf("%+v %v", res, err)
	}
	var body ConfirmBody
	if err := DecodeStrict(s.req, MaxRequestBody, &body); err != nil || body.PINBlock != strings.Repeat("0", 32) || body.KSN != strings.Repeat("0", 24) ||
		body.Session != "S1" || body.TerminalID != "T0000009" || body.Amount != 8800 || body.Currency != "156" || s.signedOK != nil {
		t.Fatalf("sent %s %v", s.req, err)
	}

	s.body = `{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":2,"amount":8800,"currency":"156"}`
	res, err = c.Confirm(context.Background(), confirmReq())
	var de *DeclinedError
	if !errors.Is(err, ErrWrongPassword) || !errors.As(err, &de) || de.TriesLeft != 2 || res.Status != StatusDeclined || res.TriesLeft != 2 {
		t.Fatalf("wrong password: %+v %v", res, err)
	}
	s.body = `{"order_id":"F1","status":"declined","reason":"locked","tries_left":0,"amount":8800,"currency":"156"}`
	if res, err = c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrLocked) || errors.Is(err, ErrWrongPassword) || res.Status != StatusDeclined {
		t.Fatalf("locked: %+v %v", res, err)
	}
	for _, bad := range []string{
		`{"order_id":"F1","status":"approved"}`,
		`{"order_id":"F2","status":"approved","platform_txn_id":"X","amount":8800,"currency":"156"}`,
		`{"order_id":"F1","status":"declined","reason":"wrong_password"}`,
		`{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":0}`,
		`{"order_id":"F1","status":"declined","reason":"other","tries_left":1}`,
		`{"order_id":"F1","status":"paid","platform_txn_id":"X"}`,
		`{"order_id":"F1","status":"approved","platform_txn_id":"X","amount":8800,"currency":"156","account":"` + testAccount + `"}`,
		`{"order_id":"F1","status":"approved","platform_txn_id":"X","amount":8800,"currency":"156","masked":"6230****1234"}`,
		`{"order_id":"F1","status":"approved","platform_txn_id":"X","amount":-8800,"currency":"156"}`,
		`{"order_id":"F1","status":"approved","platform_txn_id":"X","amount":8800,"currency":"cn1"}`,
	} {
		s.body = bad
		if _, err := c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	s.status, s.body = 404, `{"order_id":"F1","code":"no_session"}`
	if _, err := c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrRejected) {
		t.Fatal(err)
	}
}

func TestCancelAndReverse(t *testing.T) {
	s := &stub{status: 200, body: `{"session":"S1","status":"cancelled"}`}
	c := newClient(t, s, nil)
	if err := c.Cancel(context.Background(), "S1"); err != nil || s.path != PathCancel {
		t.Fatal(err, s.path)
	}
	if err := c.Cancel(context.Background(), "S-1"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatal(err)
	}
	s.body = `{"order_id":"F1","status":"reversed","platform_txn_id":"FP1","amount":8800,"currency":"156"}`
	if res, err := c.Reverse(context.Background(), "F1"); err != nil || res.Status != StatusReversed || s.path != PathReverse ||
		res.Amount != 8800 || res.Currency != "156" {
		t.Fatal(res, err)
	}
	s.body = `{"order_id":"F1","status":"approved"}`
	if _, err := c.Reverse(context.Background(), "F1"); !errors.Is(err, ErrBadResponse) {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	c, err := NewHTTP(HTTPOpts{BaseURL: "http://127.0.0.1:1", TerminalID: "T1", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*IdentifyRequest){
		func(r *IdentifyRequest) { r.OrderID = "" },
		func(r *IdentifyRequest) { r.OrderID = "F|1" },
		func(r *IdentifyRequest) { r.Amount = 0 },
		func(r *IdentifyRequest) { r.Currency = "1560" },
		func(r *IdentifyRequest) { r.Currency = "cny" },
		func(r *IdentifyRequest) { r.Sealed = nil },
		func(r *IdentifyRequest) { r.Sealed = make([]byte, MaxSealed+1) },
		func(r *IdentifyRequest) { r.ConsentAt = time.Time{} },
		func(r *IdentifyRequest) { r.Liveness = map[string]float64{"x": 1 / zero()} },
		func(r *IdentifyRequest) { r.Liveness = map[string]float64{"a b": 1} },
		// The platform takes a challenge of letters and digits only.
		func(r *IdentifyRequest) { r.Challenge = "turn left" },
		func(r *IdentifyRequest) { r.Challenge = "blink!" },
		func(r *IdentifyRequest) { r.Challenge = "left_right" },
	} {
		r := identifyReq()
		mod(&r)
		if _, err := c.Identify(context.Background(), r); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	for _, mod := range []func(*ConfirmRequest){
		func(r *ConfirmRequest) { r.Session = "" },
		func(r *ConfirmRequest) { r.PINBlock = make([]byte, 9) },
		func(r *ConfirmRequest) { r.KSN = make([]byte, 11) },
		func(r *ConfirmRequest) { r.Amount = 0 },
		func(r *ConfirmRequest) { r.Currency = "" },
	} {
		r := confirmReq()
		mod(&r)
		if _, err := c.Confirm(context.Background(), r); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	for _, o := range []HTTPOpts{{BaseURL: "ftp://x", TerminalID: "T1", Key: testKey}, {BaseURL: "http://x", TerminalID: "", Key: testKey},
		{BaseURL: "http://x", TerminalID: "T 1", Key: testKey}, {BaseURL: "http://x", TerminalID: "T1"}, {BaseURL: "http://x", TerminalID: "T1", Key: testKey[:15]}} {
		if _, err := NewHTTP(o); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func zero() float64 { return 0 }

func TestAAD(t *testing.T) {
	if got := string(AAD("T0000009", "F0000000001", 8800, "156")); got != "T0000009|F0000000001|8800|156" {
		t.Fatal(got)
	}
}

// Port of the audit's probe: anything answering at face.url (a man in
// the middle, a stray server) approves nothing. An answer must be signed
// under the terminal's key and bound to its own request.
func TestForgedAnswersRefused(t *testing.T) {
	approved := `{"order_id":"F1","status":"approved","platform_txn_id":"FORGED","amount":8800,"currency":"156"}`
	var lastSig string
	replay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Signed with the right key, but for the request before this one.
		prev := lastSig
		lastSig = r.Header.Get(HeaderSignature)
		if prev == "" {
			prev = lastSig
		}
		w.Header().Set(HeaderSignature, linksig.SignResponse(testKey, r.URL.Path, prev, []byte(approved)))
		_, _ = io.WriteString(w, approved)
	})
	for name, h := range map[string]http.Handler{
		"unsigned": &stub{status: 200, body: approved, unsigned: true},
		"other key": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderSignature, linksig.SignResponse([]byte("not the terminal's key, at all!!"), r.URL.Path, r.Header.Get(HeaderSignature), []byte(approved)))
			_, _ = io.WriteString(w, approved)
		}),
		"request echoed": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderSignature, r.Header.Get(HeaderSignature))
			_, _ = io.WriteString(w, approved)
		}),
		"unsigned 401 to a confirm": &stub{status: 401, body: `{"order_id":"F1","code":"bad_signature"}`, unsigned: true},
	} {
		c := newClient(t, h, nil)
		res, err := c.Confirm(context.Background(), confirmReq())
		if !errors.Is(err, ErrBadSignature) || !errors.Is(err, ErrBadResponse) || !errors.Is(err, ErrUnavailable) || res.Status == StatusApproved {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
	c := newClient(t, replay, nil)
	if res, err := c.Confirm(context.Background(), confirmReq()); err != nil || res.Status != StatusApproved {
		t.Fatalf("first answer (bound to its request): %+v %v", res, err)
	}
	next := confirmReq()
	next.KSN[11] = 1
	if res, err := c.Confirm(context.Background(), next); !errors.Is(err, ErrBadSignature) || res.Status == StatusApproved {
		t.Fatalf("an answer bound to the request before: %+v %v", res, err)
	}
	// The one thing taken unsigned: the platform's refusal of our
	// signature, to an identify (nothing is paid by it).
	c = newClient(t, &stub{status: 401, body: `{"code":"bad_signature"}`, unsigned: true}, nil)
	_, err := c.Identify(context.Background(), identifyReq())
	var re *RejectedError
	if !errors.As(err, &re) || re.Code != CodeBadSignature || !errors.Is(err, ErrRejected) {
		t.Fatalf("unsigned bad_signature to an identify: %v", err)
	}
	// But not a candidate.
	c = newClient(t, &stub{status: 200, body: `{"order_id":"F1","session":"S1","masked":"6230****1234"}`, unsigned: true}, nil)
	if _, err := c.Identify(context.Background(), identifyReq()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned candidate: %v", err)
	}
}

func TestPasswordBinding(t *testing.T) {
	b := PasswordBinding("T0000009", "S1", "F1", 8800, "156")
	if len(b) != 19 || strings.Trim(b, "0123456789") != "" || b != PasswordBinding("T0000009", "S1", "F1", 8800, "156") {
		t.Fatal(b)
	}
	for _, o := range []string{PasswordBinding("T0000008", "S1", "F1", 8800, "156"), PasswordBinding("T0000009", "S2", "F1", 8800, "156"),
		PasswordBinding("T0000009", "S1", "F2", 8800, "156"), PasswordBinding("T0000009", "S1", "F1", 8801, "156"),
		PasswordBinding("T0000009", "S1", "F1", 8800, "840")} {
		if o == b || o[6:18] == b[6:18] { // format 0 uses 12 digits before the last
			t.Fatalf("binding %s for other fields, %s", o, b)
		}
	}
}

// A confirm's answer states what the platform charged (approved) or
// holds the order at (declined). One stating another amount or
// currency than the order's, or none, is no approval of the order: the
// platform took something the terminal did not ask. It is an answer not
// trusted — the outcome unknown, so the sale reverses the order — typed
// so the record says why.
func TestConfirmAmountMismatch(t *testing.T) {
	for name, body := range map[string]string{
		"another amount":   `{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8801,"currency":"156"}`,
		"another currency": `{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8800,"currency":"344"}`,
		"no amount":        `{"order_id":"F1","status":"approved","platform_txn_id":"FP1"}`,
		"no currency":      `{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8800}`,
		"declined another": `{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":2,"amount":880,"currency":"156"}`,
		"declined none":    `{"order_id":"F1","status":"declined","reason":"locked","tries_left":0}`,
	} {
		c := newClient(t, &stub{status: 200, body: body}, nil)
		res, err := c.Confirm(context.Background(), confirmReq())
		var me *AmountMismatchError
		if !errors.Is(err, ErrAmountMismatch) || !errors.As(err, &me) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %+v %v; want an amount mismatch, outcome unknown", name, res, err)
			continue
		}
		if res.Status == StatusApproved || res.Status == StatusDeclined || me.Want != 8800 || me.WantCurrency != "156" || me.OrderID != "F1" {
			t.Errorf("%s: result %+v, error %+v", name, res, me)
		}
	}
	// The same currency by its alphabetic code is the same currency.
	for _, cur := range []string{"156", "CNY"} {
		c := newClient(t, &stub{status: 200, body: `{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8800,"currency":"` + cur + `"}`}, nil)
		if res, err := c.Confirm(context.Background(), confirmReq()); err != nil || res.Status != StatusApproved || res.Amount != 8800 {
			t.Fatalf("approved in %s: %+v %v", cur, res, err)
		}
	}
}

// A reverse of an order the platform paid and has since forgotten is
// refused reverse_expired: the money was taken and can no longer be
// given back by a reversal. That is no refusal to try again later: the
// reversal job stops, and the order is settled by hand (a refund). The
// error says so, and is told from the other refusals.
func TestReverseExpired(t *testing.T) {
	c := newClient(t, &stub{status: 409, body: `{"order_id":"F1","code":"reverse_expired","reason":"order not held"}`}, nil)
	res, err := c.Reverse(context.Background(), "F1")
	var re *RejectedError
	if !errors.Is(err, ErrReverseExpired) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) ||
		!errors.As(err, &re) || re.Code != CodeReverseExpired || res.Status != "" {
		t.Fatalf("%+v %v; want reverse expired", res, err)
	}
	// Other refusals of a reverse are not.
	c = newClient(t, &stub{status: 400, body: `{"order_id":"F1","code":"bad_request"}`}, nil)
	if _, err := c.Reverse(context.Background(), "F1"); !errors.Is(err, ErrRejected) || errors.Is(err, ErrReverseExpired) {
		t.Fatalf("bad request: %v", err)
	}
}

// A confirm of a session the platform does not hold open (expired,
// ended, forgotten with its order) is refused no_session: this confirm
// paid nothing. It is a refusal (the sale fails, nothing to reverse),
// told from the others so the terminal can say the session ran out, and
// never an unknown outcome nor a decline.
func TestConfirmNoSession(t *testing.T) {
	c := newClient(t, &stub{status: 404, body: `{"order_id":"F1","code":"no_session","reason":"no open session of that id"}`}, nil)
	res, err := c.Confirm(context.Background(), confirmReq())
	if !errors.Is(err, ErrNoSession) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrWrongPassword) ||
		errors.Is(err, ErrAmountMismatch) || res.Status != "" {
		t.Fatalf("%+v %v; want no session", res, err)
	}
	c = newClient(t, &stub{status: 404, body: `{"session":"S1","code":"no_session"}`}, nil)
	if err := c.Cancel(context.Background(), "S1"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("cancel: %v", err)
	}
}

// The platform stating another amount than the order's is a fault of
// the platform the acquirer must hear of: the client logs it as an
// error, naming what was stated, not as an ordinary refusal.
func TestConfirmAmountMismatchLogged(t *testing.T) {
	var logs bytes.Buffer
	c := newClient(t, &stub{status: 200, body: `{"order_id":"F1","status":"approved","platform_txn_id":"FP1","amount":8801,"currency":"156"}`},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := c.Confirm(context.Background(), confirmReq()); !errors.Is(err, ErrAmountMismatch) {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "8801") {
		t.Fatalf("logged %s", logs.String())
	}
}
