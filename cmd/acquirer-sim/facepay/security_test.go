package facepay_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/facepay"
	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// These tests are the audit's probes of the face-pay link (an
// unauthenticated link: a made-up terminal paying with a photo and a
// replayed password block, anyone reversing a payment, identify as an
// account-number oracle) turned into the platform's requirements.

// post sends body to path as it is, with headers (none: unsigned), and
// returns the answer's status and body.
func post(t *testing.T, url, path string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	status, b, _ := postHeaders(t, url, path, headers, body)
	return status, b
}

// postHeaders is post that also returns the answer's headers.
func postHeaders(t *testing.T, url, path string, headers map[string]string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// attackerIdentify is the attacker's identify: a photo of name (a crop
// of a picture, never through liveness) sealed to the public key the
// platform serves, made-up liveness scores, terminal tid, no key.
func attackerIdentify(t *testing.T, r *rig, name, tid, order string, amount int64) []byte {
	t.Helper()
	env, err := faceseal.Seal(r.key.PublicKey(), cropJPEG(t, name, 99, 5, image.Point{}), fp.AAD(tid, order, amount, "156"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"terminal_id": tid, "order_id": order, "amount": amount, "currency": "156",
		"sealed": base64.StdEncoding.EncodeToString(env), "liveness": map[string]float64{"challenge": 1}, "challenge": "blink",
		"consent_at": r.clk.Now()})
	return b
}

// A made-up terminal with a photo of alice, the platform's public key and
// a PIN block + KSN recorded off the wire from one of her genuine sales
// pays nothing: its requests are not signed, a signed terminal replaying
// the KSN is refused, and a PIN block is bound to its own session, order
// and amount.
func TestReplayedPasswordBlockRefused(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	c, err := r.identify("alice", "F1", 8800)
	if err != nil {
		t.Fatal(err)
	}
	block, ksn := r.pinBlock(c.Session, "F1", 8800, facepay.Password("alice"))
	if res, err := r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c.Session, OrderID: "F1", Amount: 8800, Currency: "156",
		PINBlock: block, KSN: ksn}); err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("genuine sale: %+v %v", res, err)
	}

	// The made-up terminal: not signed, refused before the crop is
	// opened; no session, no account.
	status, ans := post(t, r.url, fp.PathIdentify, nil, attackerIdentify(t, r, "alice", "EVIL0001", "X9", 99900))
	if status != http.StatusUnauthorized || !bytes.Contains(ans, []byte(fp.CodeBadSignature)) || bytes.Contains(ans, []byte("session")) {
		t.Fatalf("unsigned identify from a made-up terminal: HTTP %d %s", status, ans)
	}
	hexBlock, hexKSN := strings.ToUpper(hex.EncodeToString(block)), strings.ToUpper(hex.EncodeToString(ksn))
	confirm, _ := json.Marshal(map[string]any{"terminal_id": "EVIL0001", "session": c.Session, "order_id": "X9", "amount": 99900,
		"currency": "156", "pin_block": hexBlock, "ksn": hexKSN})
	if status, ans := post(t, r.url, fp.PathConfirm, nil, confirm); status != http.StatusUnauthorized {
		t.Fatalf("unsigned confirm: HTTP %d %s", status, ans)
	}
	// A key made up for a real terminal id does not sign either.
	evil, err := fp.NewHTTP(fp.HTTPOpts{BaseURL: r.url, TerminalID: r.tid, Key: []byte("a key the attacker made up......"), Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	env := r.seal(cropJPEG(t, "alice", 99, 5, image.Point{}), "X8", 99900)
	if _, err := evil.Identify(context.Background(), fp.IdentifyRequest{OrderID: "X8", Amount: 99900, Currency: "156", Sealed: env,
		ConsentAt: r.clk.Now()}); rejectedCode(t, err) != fp.CodeBadSignature {
		t.Fatalf("identify under a made-up key: %v", err)
	}

	// Even through a genuine terminal's signed link, the recorded block
	// and KSN pay nothing in a new session: the KSN is spent.
	c2, err := r.identify("alice", "X7", 99900)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c2.Session, OrderID: "X7", Amount: 99900, Currency: "156",
		PINBlock: block, KSN: ksn})
	if rejectedCode(t, err) != fp.CodeKSNReused {
		t.Fatalf("replayed KSN: %v", err)
	}
	// And the session is spent with it: one confirm a session.
	if _, err := r.confirm(c2, "X7", facepay.Password("alice")); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("confirm after a refused one: %v", err)
	}
	// A PIN block made for one session (under a fresh KSN) is no
	// password in another: it is bound to the session, order and amount.
	c3, err := r.identify("alice", "X6", 99900)
	if err != nil {
		t.Fatal(err)
	}
	for i, other := range []struct {
		session, order string
		amount         int64
	}{{c.Session, "X6", 99900}, {c3.Session, "F1", 99900}, {c3.Session, "X6", 8800}} {
		order := fmt.Sprintf("X5%d", i)
		c4, err := r.identify("alice", order, 99900)
		if err != nil {
			t.Fatal(err)
		}
		wrong, k := r.pinBlock(other.session, other.order, other.amount, facepay.Password("alice"))
		res, err := r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c4.Session, OrderID: order, Amount: 99900,
			Currency: "156", PINBlock: wrong, KSN: k})
		// Declined (the third wrong one locks alice's account).
		if !errors.Is(err, fp.ErrWrongPassword) && !errors.Is(err, fp.ErrLocked) || res.Status != fp.StatusDeclined {
			t.Fatalf("PIN block bound to %+v: %+v %v", other, res, err)
		}
	}
	// The confirm names its session's amount, under the signature.
	bl, k := r.pinBlock(c3.Session, "X6", 99900, facepay.Password("alice"))
	if _, err := r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c3.Session, OrderID: "X6", Amount: 100, Currency: "156",
		PINBlock: bl, KSN: k}); rejectedCode(t, err) != fp.CodeOrderMismatch {
		t.Fatalf("confirm of another amount: %v", err)
	}
	if tot := r.p.Totals(); tot.Approved != 1 || tot.BadSignature != 3 || tot.KSNReused != 1 {
		t.Fatalf("totals %+v", tot)
	}
	checkJournal(t, r.journal.Bytes())
}

// Only the terminal that made a sale reverses it, with its signature.
func TestReverseOnlyBySigningTerminal(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	c, err := r.identify("alice", "P00000001", 8800)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.confirm(c, "P00000001", facepay.Password("alice")); err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("%+v %v", res, err)
	}
	body := []byte(`{"terminal_id":"T0000009","order_id":"P00000001"}`)
	// A raw POST, and one with the terminal's id and a made-up signature.
	if status, ans := post(t, r.url, fp.PathReverse, nil, body); status != http.StatusUnauthorized {
		t.Fatalf("unsigned reverse: HTTP %d %s", status, ans)
	}
	ts := strconv.FormatInt(r.clk.Now().Unix(), 10)
	if status, ans := post(t, r.url, fp.PathReverse, map[string]string{fp.HeaderTerminal: "T0000009", fp.HeaderTimestamp: ts,
		fp.HeaderSignature: strings.Repeat("ab", 32)}, body); status != http.StatusUnauthorized {
		t.Fatalf("forged signature: HTTP %d %s", status, ans)
	}
	// Another terminal, signing with its own key: naming T0000009 in the
	// body is refused; under its own id the order is not T0000009's.
	other := r.client("T0000010")
	status, ans := signedPost(t, r, "T0000010", fp.PathReverse, body)
	if status != http.StatusBadRequest {
		t.Fatalf("reverse of another terminal's order: HTTP %d %s", status, ans)
	}
	if res, err := other.Reverse(context.Background(), "P00000001"); err != nil || res.Status != fp.StatusCancelled {
		t.Fatalf("another terminal's reverse: %+v %v", res, err)
	}
	// A genuine request replayed after the window is stale.
	old := signedRequest(t, r, "T0000009", fp.PathReverse, body)
	r.clk.Advance(6 * time.Minute)
	if status, ans := post(t, r.url, fp.PathReverse, old, body); status != http.StatusUnauthorized || !bytes.Contains(ans, []byte("timestamp")) {
		t.Fatalf("stale reverse: HTTP %d %s", status, ans)
	}
	if tot := r.p.Totals(); tot.Reversed != 0 {
		t.Fatalf("reversed by someone else: %+v", tot)
	}
	// The terminal that made the sale.
	if res, err := r.c.Reverse(context.Background(), "P00000001"); err != nil || res.Status != fp.StatusReversed {
		t.Fatalf("the terminal's reverse: %+v %v", res, err)
	}
	if tot := r.p.Totals(); tot.Reversed != 1 {
		t.Fatalf("totals %+v", tot)
	}
}

// identify is no oracle: unsigned, it answers nothing; signed, it
// answers a session and the masked account, never the account number.
func TestIdentifyNoOracle(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	status, ans := post(t, r.url, fp.PathIdentify, nil, attackerIdentify(t, r, "bob", "X1", "X1", 100))
	if status != http.StatusUnauthorized || bytes.Contains(ans, []byte(facepay.IdentityOf("bob").Account)) {
		t.Fatalf("unsigned identify: HTTP %d %s", status, ans)
	}
	body := attackerIdentify(t, r, "bob", r.tid, "X2", 100)
	status, ans = signedPost(t, r, r.tid, fp.PathIdentify, body)
	var a map[string]any
	if err := json.Unmarshal(ans, &a); status != http.StatusOK || err != nil || a["session"] == "" || a["masked"] != facepay.IdentityOf("bob").Masked {
		t.Fatalf("signed identify: HTTP %d %s", status, ans)
	}
	if bytes.Contains(ans, []byte(facepay.IdentityOf("bob").Account)) || bytes.Contains(ans, []byte("account")) {
		t.Fatalf("identify answered the account number: %s", ans)
	}
	// The body's terminal is the signer's.
	if status, ans := signedPost(t, r, "T0000010", fp.PathIdentify, attackerIdentify(t, r, "bob", r.tid, "X3", 100)); status != http.StatusBadRequest {
		t.Fatalf("identify naming another terminal: HTTP %d %s", status, ans)
	}
}

// signedRequest signs body for path as terminal tid does (its key under
// the test master key), at the rig's time, and returns the headers.
func signedRequest(t *testing.T, r *rig, tid, path string, body []byte) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+path, nil)
	fp.SigHeaders.SignHTTP(req, facepay.TerminalKey([]byte(facepay.TestMasterKey), tid), path, tid, r.clk.Now(), body)
	return map[string]string{fp.HeaderTerminal: req.Header.Get(fp.HeaderTerminal), fp.HeaderTimestamp: req.Header.Get(fp.HeaderTimestamp),
		fp.HeaderSignature: req.Header.Get(fp.HeaderSignature)}
}

func signedPost(t *testing.T, r *rig, tid, path string, body []byte) (int, []byte) {
	t.Helper()
	return post(t, r.url, path, signedRequest(t, r, tid, path, body), body)
}
