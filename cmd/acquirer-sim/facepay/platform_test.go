package facepay_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/acquirer-sim/facepay"
	"posd/conn/clock"
	"posd/crypto/dukpt"
	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// syncBuf is a journal tests read while the platform writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// rig is a platform behind httptest and a terminal's client of it.
type rig struct {
	t       *testing.T
	key     *ecdh.PrivateKey
	p       *facepay.Platform
	c       *fp.HTTPClient
	url     string
	journal *syncBuf
	clk     *clock.Fake
	mode    wiresec.Mode
	orig    interface {
		Next() ([]byte, []byte, error)
	}
	tid     string
	amounts map[string]int64 // order id -> the amount of its identify
}

func newRig(t *testing.T, mode wiresec.Mode) *rig {
	t.Helper()
	return newRigOpts(t, mode, facepay.Opts{})
}

// newRigOpts is newRig with the platform's other options o (its key,
// mode, BDK, journal and clock are the rig's).
func newRigOpts(t *testing.T, mode wiresec.Mode, o facepay.Opts) *rig {
	t.Helper()
	key, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, key: key, journal: &syncBuf{}, clk: clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), mode: mode, tid: "T0000009",
		amounts: map[string]int64{}}
	bdk := acquirer.DefaultBDK(mode)
	o.Key, o.Mode, o.BDK, o.Journal, o.Clock = key, mode, bdk, r.journal, r.clk
	r.p, err = facepay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.p)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	r.c = r.client(r.tid)
	switch mode {
	case wiresec.ModeAES:
		iksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0}
		ik, err := dukpt.AESDeriveIK(bdk, iksn)
		if err != nil {
			t.Fatal(err)
		}
		o, err := dukpt.NewAESOriginator(ik, iksn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(o.Wipe)
		r.orig = o
	default:
		iksn := []byte{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x00, 0x00}
		ik, err := dukpt.TDESDeriveIK(bdk, iksn)
		if err != nil {
			t.Fatal(err)
		}
		o, err := dukpt.NewTDESOriginator(ik, iksn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(o.Wipe)
		r.orig = o
	}
	return r
}

// client is terminal tid's client of the platform, with the key the
// platform derives for it and the platform's clock.
func (r *rig) client(tid string) *fp.HTTPClient {
	r.t.Helper()
	c, err := fp.NewHTTP(fp.HTTPOpts{BaseURL: r.url, TerminalID: tid, Key: facepay.TerminalKey([]byte(facepay.TestMasterKey), tid), Clock: r.clk})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// cropJPEG is what a terminal sends: a face box of a facescene frame,
// widened by 20 %, resized to 160x160, JPEG quality 90.
func cropJPEG(t testing.TB, name string, seed uint64, frame int, shift image.Point) []byte {
	t.Helper()
	img := testCrop(t, name, seed, frame, shift.Add(image.Pt(0, -8)), 1.55)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (r *rig) seal(crop []byte, order string, amount int64) []byte {
	r.t.Helper()
	env, err := faceseal.Seal(r.key.PublicKey(), crop, fp.AAD(r.tid, order, amount, "156"), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return env
}

func (r *rig) identify(name, order string, amount int64) (fp.Candidate, error) {
	r.t.Helper()
	env := r.seal(cropJPEG(r.t, name, 7, 3, image.Point{}), order, amount)
	r.amounts[order] = amount
	return r.c.Identify(context.Background(), fp.IdentifyRequest{OrderID: order, Amount: amount, Currency: "156", Sealed: env,
		Liveness: map[string]float64{"blink": 0.93}, Challenge: "blink", ConsentAt: r.clk.Now()})
}

func (r *rig) confirm(c fp.Candidate, order, password string) (fp.Result, error) {
	r.t.Helper()
	amount, ok := r.amounts[order]
	if !ok {
		amount = 8800
	}
	block, ksn := r.pinBlock(c.Session, order, amount, password)
	return r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c.Session, OrderID: order, Amount: amount, Currency: "156",
		PINBlock: block, KSN: ksn})
}

// pinBlock enciphers password as the terminal does, under the next
// DUKPT key, bound to the session, order and amount.
func (r *rig) pinBlock(session, order string, amount int64, password string) (block, ksn []byte) {
	r.t.Helper()
	ksn, key, err := r.orig.Next()
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(r.mode, ksn, key)
	clear(key)
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Wipe()
	block, err = s.EncryptPINDigits([]byte(password), fp.PasswordBinding(r.tid, session, order, amount, "156"))
	if err != nil {
		r.t.Fatal(err)
	}
	return block, ksn
}

func TestApproved(t *testing.T) {
	for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			r := newRig(t, mode)
			c, err := r.identify("alice", "F1", 8800)
			if err != nil {
				t.Fatal(err)
			}
			want := facepay.IdentityOf("alice")
			if c.Masked != want.Masked || c.Session == "" {
				t.Fatalf("candidate %#v", c)
			}
			res, err := r.confirm(c, "F1", facepay.Password("alice"))
			if err != nil || res.Status != fp.StatusApproved || res.PlatformTxnID == "" {
				t.Fatalf("%+v %v", res, err)
			}
			// Idempotent by order id: the same approval, paid once.
			again, err := r.confirm(c, "F1", facepay.Password("alice"))
			if err != nil || again != res {
				t.Fatalf("repeat: %+v %v", again, err)
			}
			tot := r.p.Totals()
			if tot.Approved != 1 || tot.ConfirmRepeats != 1 || tot.ApprovedTwice != 0 {
				t.Fatalf("totals %+v", tot)
			}
			// The order is decided: a new identify of it is refused.
			if _, err := r.identify("alice", "F1", 8800); !errors.Is(err, fp.ErrRejected) {
				t.Fatalf("identify of a paid order: %v", err)
			}
			// Reverse gives it back, once.
			for range 2 {
				if res, err := r.c.Reverse(context.Background(), "F1"); err != nil || res.Status != fp.StatusReversed {
					t.Fatalf("reverse: %+v %v", res, err)
				}
			}
			if r.p.Totals().Reversed != 1 {
				t.Fatal("reversed twice")
			}
			checkJournal(t, r.journal.Bytes())
		})
	}
}

func TestWrongPasswordThenLocked(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	// A session takes one confirm; the wrong passwords count over
	// sessions, per account.
	for i, want := range []int{2, 1} {
		order := fmt.Sprintf("F2%d", i)
		c, err := r.identify("bob", order, 2000)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.confirm(c, order, "000000")
		var de *fp.DeclinedError
		if !errors.Is(err, fp.ErrWrongPassword) || !errors.As(err, &de) || res.Status != fp.StatusDeclined || res.TriesLeft != want {
			t.Fatalf("wrong password: %+v %v", res, err)
		}
		// The session is over: not even the right password now.
		if _, err := r.confirm(c, order, facepay.Password("bob")); rejectedCode(t, err) != fp.CodeNoSession {
			t.Fatalf("second confirm of a session: %v", err)
		}
	}
	c, err := r.identify("bob", "F29", 2000)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.confirm(c, "F29", "999999")
	if !errors.Is(err, fp.ErrLocked) || res.Status != fp.StatusDeclined || res.TriesLeft != 0 {
		t.Fatalf("third wrong password: %+v %v", res, err)
	}
	// The session is over, and the account stays locked even with the
	// right password in a new session.
	if _, err := r.confirm(c, "F29", facepay.Password("bob")); !errors.Is(err, fp.ErrRejected) {
		t.Fatalf("confirm after the lock: %v", err)
	}
	if _, err := r.identify("bob", "F3", 2000); !errors.Is(err, fp.ErrLocked) {
		t.Fatalf("identify of a locked account: %v", err)
	}
	// Other customers are not affected.
	if c, err := r.identify("alice", "F4", 2000); err != nil || c.Masked != facepay.IdentityOf("alice").Masked {
		t.Fatalf("alice: %v", err)
	}
	r.clk.Advance(facepay.DefaultLockFor + time.Second)
	c, err = r.identify("bob", "F5", 2000)
	if err != nil {
		t.Fatalf("identify after the lock ended: %v", err)
	}
	if res, err := r.confirm(c, "F5", facepay.Password("bob")); err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("%+v %v", res, err)
	}
	checkJournal(t, r.journal.Bytes())
}

func TestNoMatch(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	for i, name := range []string{"mallory", "oscar"} {
		if _, err := r.identify(name, "N"+string(rune('1'+i)), 1000); !errors.Is(err, fp.ErrNoMatch) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if r.p.Totals().NoMatch != 2 {
		t.Fatal(r.p.Totals())
	}
	checkJournal(t, r.journal.Bytes())
}

func TestOverLimit(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	if _, err := r.identify("alice", "L1", facepay.DefaultLimit+1); !errors.Is(err, fp.ErrOverLimit) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := r.identify("alice", "L2", facepay.DefaultLimit); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

func rejectedCode(t *testing.T, err error) string {
	t.Helper()
	var re *fp.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("not a refusal: %v", err)
	}
	return re.Code
}

func TestBadEnvelope(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	crop := cropJPEG(t, "alice", 7, 3, image.Point{})
	req := func(sealed []byte, amount int64) error {
		_, err := r.c.Identify(context.Background(), fp.IdentifyRequest{OrderID: "B1", Amount: amount, Currency: "156", Sealed: sealed,
			ConsentAt: r.clk.Now()})
		return err
	}
	env := r.seal(crop, "B1", 1500)
	for _, i := range []int{0, 5, 40, 100, len(env) - 1} {
		bad := bytes.Clone(env)
		bad[i] ^= 0x20
		if err := req(bad, 1500); rejectedCode(t, err) != fp.CodeBadEnvelope {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	// Sealed for another amount (the aad differs).
	if err := req(env, 1501); rejectedCode(t, err) != fp.CodeBadEnvelope {
		t.Fatalf("other amount: %v", err)
	}
	// Sealed to another platform.
	other, _ := faceseal.GenerateKey()
	env2, _ := faceseal.Seal(other.PublicKey(), crop, fp.AAD(r.tid, "B1", 1500, "156"), nil)
	if err := req(env2, 1500); rejectedCode(t, err) != fp.CodeBadEnvelope {
		t.Fatalf("other key: %v", err)
	}
	// The picture in the clear is refused, and journaled as such.
	if err := req(crop, 1500); rejectedCode(t, err) != fp.CodeBadRequest {
		t.Fatalf("clear picture: %v", err)
	}
	lines := journalLines(t, r.journal.Bytes())
	last := lines[len(lines)-1]
	if last["jpeg_in_body"] != true || last["code"] != fp.CodeBadRequest {
		t.Fatalf("clear picture journaled as %v", last)
	}
	// Sealed, but not a JPEG inside.
	if err := req(r.seal([]byte("not a picture at all, only text"), "B1", 1500), 1500); rejectedCode(t, err) != fp.CodeBadRequest {
		t.Fatalf("sealed text: %v", err)
	}
	// The envelope still opens once untouched.
	if _, err := r.c.Identify(context.Background(), fp.IdentifyRequest{OrderID: "B1", Amount: 1500, Currency: "156", Sealed: env,
		ConsentAt: r.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if tot := r.p.Totals(); tot.BadEnvelope != 7 {
		t.Fatalf("totals %+v", tot)
	}
}

func TestCancelReverseAndRefusals(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	c, err := r.identify("chen", "C1", 3000)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.c.Cancel(context.Background(), c.Session); err != nil {
			t.Fatalf("cancel: %v", err)
		}
	}
	if _, err := r.confirm(c, "C1", facepay.Password("chen")); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("confirm after cancel: %v", err)
	}
	if err := r.c.Cancel(context.Background(), "NOSUCH"); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatal(err)
	}
	// A reverse of an order the platform never saw closes it for good.
	if res, err := r.c.Reverse(context.Background(), "C9"); err != nil || res.Status != fp.StatusCancelled {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := r.identify("chen", "C9", 3000); rejectedCode(t, err) != fp.CodeOrderMismatch {
		t.Fatalf("identify of a reversed order: %v", err)
	}
	// A session expires.
	c, err = r.identify("chen", "C2", 3000)
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(facepay.DefaultSessionTTL + time.Second)
	if _, err := r.confirm(c, "C2", facepay.Password("chen")); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("confirm of an expired session: %v", err)
	}
	// A session is its order's and its terminal's.
	c, _ = r.identify("chen", "C3", 3000)
	if _, err := r.confirm(c, "C4", facepay.Password("chen")); rejectedCode(t, err) != fp.CodeOrderMismatch {
		t.Fatalf("confirm of another order: %v", err)
	}
	other := r.client("T0000010")
	if err := other.Cancel(context.Background(), c.Session); rejectedCode(t, err) != fp.CodeNoSession {
		t.Fatalf("cancel by another terminal: %v", err)
	}
	// The key endpoint serves the pinned key.
	resp, err := http.Get(r.url + fp.PathKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	pub, err := faceseal.ParsePublicKey(pem)
	if err != nil || !pub.Equal(r.key.PublicKey()) {
		t.Fatalf("key endpoint: %v", err)
	}
	// Requests that are not the protocol.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", fp.PathIdentify, ""},
		{"POST", "/face/v1/other", "{}"},
		{"POST", fp.PathIdentify, `{"terminal_id":"T1"}`},
		{"POST", fp.PathIdentify, `{"terminal_id":"T1","order_id":"O1","amount":1,"currency":"156","sealed":"AQ==","consent_at":"2026-01-01T00:00:00Z","x":1}`},
		{"POST", fp.PathConfirm, `{"terminal_id":"T1","session":"S","order_id":"O","pin_block":"zz","ksn":"00"}`},
		{"POST", fp.PathIdentify, strings.Repeat("x", fp.MaxRequestBody+1)},
	} {
		req, _ := http.NewRequest(tc.method, r.url+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var a fp.Answer
		if resp.StatusCode < 400 || json.Unmarshal(b, &a) != nil || a.Code == "" {
			t.Errorf("%s %s %.40q: %d %s", tc.method, tc.path, tc.body, resp.StatusCode, b)
		}
	}
	checkJournal(t, r.journal.Bytes())
}

func journalLines(t *testing.T, j []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(j), []byte("\n")) {
		var l map[string]any
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// checkJournal: every line is JSON with an op; identify lines prove only
// ciphertext arrived; no picture, account number, password or PIN block.
func checkJournal(t *testing.T, j []byte) {
	t.Helper()
	for _, sig := range [][]byte{{0xFF, 0xD8, 0xFF}, []byte("\x89PNG"), []byte("JFIF\x00"), []byte("/9j/")} {
		if bytes.Contains(j, sig) {
			t.Fatalf("journal holds a picture signature %q", sig)
		}
	}
	for _, id := range facepay.Identities {
		if bytes.Contains(j, []byte(id.Account)) || bytes.Contains(j, []byte(id.Password)) {
			t.Fatalf("journal holds %s's account or password", id.Name)
		}
	}
	if bytes.Contains(j, []byte("pin_block")) || bytes.Contains(j, []byte("6230580000")) {
		t.Fatal("journal holds a PIN block or an account")
	}
	identifies := 0
	for _, l := range journalLines(t, j) {
		if l["op"] == "" || l["time"] == nil {
			t.Fatalf("journal line %v", l)
		}
		// A repeat was answered from memory: its first copy's line has
		// the proof.
		if l["op"] != "identify" || l["code"] == fp.CodeBadRequest || l["code"] == fp.CodeBadSignature || l["repeat"] == true {
			continue
		}
		identifies++
		ent, _ := l["sealed_entropy"].(float64)
		n, _ := l["sealed_bytes"].(float64)
		sum, _ := l["sealed_sha256"].(string)
		if ent < 7.5 || n < 1000 || len(sum) != 64 || l["jpeg_in_body"] != false {
			t.Fatalf("identify line %v", l)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			t.Fatal(err)
		}
	}
	if identifies == 0 {
		t.Fatal("no identify line")
	}
}

// TestCiphertextSpellingJFIF: base64 of ciphertext spells "JFIF" (or any
// other four letters) about once in 16 million positions, so once in a
// thousand or so face sales. Such an envelope is still ciphertext: the
// platform must open it, not refuse it as a picture in the clear.
func TestCiphertextSpellingJFIF(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	crop := cropJPEG(t, "alice", 7, 3, image.Point{})
	var env []byte
	for seed := uint64(0); seed < 200000; seed++ {
		e, err := faceseal.Seal(r.key.PublicKey(), crop, fp.AAD(r.tid, "J1", 1500, "156"), mrand.NewChaCha8(seedBytes(seed)))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(base64.StdEncoding.EncodeToString(e), "JFIF") {
			env = e
			break
		}
	}
	if env == nil {
		t.Fatal("no envelope spelling JFIF found")
	}
	c, err := r.c.Identify(context.Background(), fp.IdentifyRequest{OrderID: "J1", Amount: 1500, Currency: "156", Sealed: env,
		Liveness: map[string]float64{"blink": 0.93}, Challenge: "blink", ConsentAt: r.clk.Now()})
	if err != nil {
		t.Fatalf("an envelope whose base64 spells JFIF: %v", err)
	}
	r.amounts["J1"] = 1500
	if _, err := r.confirm(c, "J1", "135790"); err != nil {
		t.Fatal(err)
	}
	// A picture in base64 in any field of the body is still refused.
	body := []byte(`{"terminal_id":"T1","order_id":"J2","note":"/9j/4AAQSkZJRgABAQ"}`)
	if !facepay.PictureInBody(body) {
		t.Fatal("base64 JPEG in a field not seen")
	}
}

func seedBytes(n uint64) (s [32]byte) {
	binary.LittleEndian.PutUint64(s[:], n)
	return s
}
