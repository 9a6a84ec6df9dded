package txn

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/crypto/faceseal"
	"posd/terminal/facepay"
	"posd/terminal/host"
	"posd/terminal/linksig"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

type fakeConsent struct {
	mu     sync.Mutex
	answer bool
	err    error
	asked  int
	gate   chan struct{} // nil: answer at once
}

func (f *fakeConsent) WaitConsent(ctx context.Context, asked func()) (bool, error) {
	asked()
	f.mu.Lock()
	f.asked++
	g := f.gate
	f.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return f.answer, f.err
}

type fakeLiveness struct {
	mu       sync.Mutex
	check    FaceCheck
	seq      []FaceCheck // decided first, one a call, before check
	crop     []byte
	ready    error
	calls    int
	lastCrop []byte // the slice handed out, to see it wiped
}

func (f *fakeLiveness) Ready() error { return f.ready }

func (f *fakeLiveness) Check(ctx context.Context, show func(FacePrompt)) (FaceCheck, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	check := f.check
	if len(f.seq) > 0 {
		check, f.seq = f.seq[0], f.seq[1:]
	}
	show(FacePrompt{Challenge: check.Challenge})
	if f.crop == nil || check.Decision != "live" {
		return check, nil, nil
	}
	c := bytes.Clone(f.crop)
	f.lastCrop = c
	return check, c, nil
}

// typedPassword is a PIN pad where the customer types digits.
type typedPassword struct{ digits string }

func (p typedPassword) ReadPIN(ctx context.Context, progress func(pin.Progress), build func([]byte) ([]byte, error)) ([]byte, error) {
	for i := range p.digits {
		progress(pin.Progress{Digits: i + 1, State: pin.StateDigit})
	}
	return build([]byte(p.digits))
}

// fakePlatform opens the sealed crop and checks the password like the
// platform does: the PIN block under the test BDK, bound to the account.
type fakePlatform struct {
	mu       sync.Mutex
	key      *ecdh.PrivateKey
	password string
	opened   [][]byte
	confirm  error // forced error of Confirm
	reverse  error // forced error of Reverse
	reversed []string
	cancels  int
	identify error
	amount   int64 // the identify's
	// confirming, when set, is closed as Confirm is entered; Confirm
	// then answers once release is closed.
	confirming, release chan struct{}
}

const faceAccount = "6230580000000012"

func (p *fakePlatform) Identify(_ context.Context, r facepay.IdentifyRequest) (facepay.Candidate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.identify != nil {
		return facepay.Candidate{}, p.identify
	}
	plain, err := faceseal.Open(p.key, r.Sealed, facepay.AAD("T0000001", r.OrderID, r.Amount, r.Currency))
	if err != nil {
		return facepay.Candidate{}, err
	}
	p.opened = append(p.opened, plain)
	p.amount = r.Amount
	return facepay.Candidate{Session: "S1", Masked: "6230****0012"}, nil
}

func (p *fakePlatform) Confirm(_ context.Context, r facepay.ConfirmRequest) (facepay.Result, error) {
	if p.confirming != nil {
		close(p.confirming)
		<-p.release
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.confirm != nil {
		return facepay.Result{}, p.confirm
	}
	s, err := wiresec.ForHost(wiresec.ModeAES, testBDK, r.KSN)
	if err != nil {
		return facepay.Result{}, err
	}
	if r.Amount != p.amount || r.Currency != "156" {
		return facepay.Result{}, &facepay.RejectedError{Op: "confirm", Status: 409, Code: facepay.CodeOrderMismatch}
	}
	// The block is bound to the session, order and amount.
	pw, err := s.DecryptPIN(r.PINBlock, facepay.PasswordBinding("T0000001", r.Session, r.OrderID, r.Amount, r.Currency))
	if err != nil {
		return facepay.Result{}, err
	}
	if pw != p.password {
		return facepay.Result{Status: facepay.StatusDeclined, Reason: facepay.ReasonWrongPassword, TriesLeft: 2},
			&facepay.DeclinedError{Reason: facepay.ReasonWrongPassword, TriesLeft: 2}
	}
	return facepay.Result{Status: facepay.StatusApproved, PlatformTxnID: "FP1"}, nil
}

func (p *fakePlatform) Cancel(context.Context, string) error {
	p.mu.Lock()
	p.cancels++
	p.mu.Unlock()
	return nil
}

func (p *fakePlatform) Reverse(_ context.Context, order string) (facepay.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reversed = append(p.reversed, order)
	if p.reverse != nil {
		return facepay.Result{}, p.reverse
	}
	return facepay.Result{Status: facepay.StatusReversed}, nil
}

type faceRig struct {
	e        *Engine
	db       *store.DB
	consent  *fakeConsent
	live     *fakeLiveness
	platform *fakePlatform
	reader   *fakeReader
}

var liveCheck = FaceCheck{Decision: "live", Challenge: "blink", Scores: map[string]float64{"challenge": 1, "parallax": 0.8}, Frames: 30}

func faceSetup(t *testing.T, password string, mod func(*faceRig)) *faceRig {
	t.Helper()
	priv, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &faceRig{consent: &fakeConsent{answer: true},
		live:     &fakeLiveness{check: liveCheck, crop: []byte("\xff\xd8\xff face crop jpeg")},
		platform: &fakePlatform{key: priv, password: "135790"}}
	if mod != nil {
		mod(r)
	}
	r.e, r.reader, r.db = setupWith(t, approveAll(), func(o *Opts) {
		re, err := risk.New(risk.DefaultRules(), risk.Opts{DB: o.Store.Bolt(), HashKey: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		o.Risk, o.PIN = re, &fakePIN{digits: "1234"} // a card paid instead asks for its PIN
		o.Face = &FacePay{Consent: r.consent, Liveness: r.live, Password: typedPassword{password}, Platform: r.platform,
			PlatformKey: priv.PublicKey(), TerminalID: "T0000001", ConsentTimeout: time.Second}
	})
	return r
}

func TestFaceSaleApproved(t *testing.T) {
	r := faceSetup(t, "135790", nil)
	events, stop := r.e.Subscribe()
	defer stop()
	tx, err := r.e.Start(Request{Amount: 8800, Currency: "156", Method: MethodFace})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(t, r.e, tx.ID)
	if got.State != store.StateApproved || got.Face == nil || got.Face.Decision != "live" || got.Face.ConsentAt.IsZero() ||
		got.Face.MaskedAccount != "6230****0012" || got.Face.PlatformTxnID != "FP1" || got.CVM != string(risk.CVMPaymentPassword) ||
		got.EntryMode != string(risk.EntryFace) || got.KSN == "" {
		t.Fatalf("face sale: %+v %+v", got, got.Face)
	}
	// The platform got the crop, sealed; the terminal's copy was wiped.
	if len(r.platform.opened) != 1 || string(r.platform.opened[0]) != "\xff\xd8\xff face crop jpeg" {
		t.Fatalf("platform opened %q", r.platform.opened)
	}
	if !bytes.Equal(r.live.lastCrop, make([]byte, len(r.live.lastCrop))) {
		t.Fatalf("the crop was not wiped: %q", r.live.lastCrop)
	}
	// The record has no image, no account number.
	raw, _ := json.Marshal(got)
	if bytes.Contains(raw, []byte("crop")) || bytes.Contains(raw, []byte(faceAccount)) {
		t.Fatalf("record keeps face data: %s", raw)
	}
	// The face-pay platform took the money: the acquirer has nothing to
	// void, and a card refund would pay the money out to whatever card
	// is presented.
	for _, k := range []host.Kind{host.KindRefund, host.KindVoid} {
		if _, err := r.e.Start(Request{Kind: k, OrigID: got.ID, Amount: 1000}); !errors.Is(err, ErrOriginal) || !strings.Contains(err.Error(), "face") {
			t.Fatalf("%s of a face sale: %v", k, err)
		}
	}
	// The display went consent → challenge → password, one '*' a digit.
	var phases []Phase
	digits := 0
	for done := false; !done; {
		select {
		case ev := <-events:
			if len(phases) == 0 || phases[len(phases)-1] != ev.Phase {
				phases = append(phases, ev.Phase)
			}
			if ev.Phase == PhasePIN && ev.Prompt == "password" {
				digits = max(digits, ev.PINDigits)
			}
			done = ev.Phase == PhaseDone
		case <-time.After(5 * time.Second):
			t.Fatalf("events: %v", phases)
		}
	}
	want := []Phase{PhaseFaceConsent, PhaseFaceCheck, PhaseProcessing, PhasePIN, PhaseProcessing, PhaseDone}
	if len(phases) < len(want) || digits != PasswordDigits {
		t.Fatalf("phases %v (want %v), digits %d", phases, want, digits)
	}
}

func TestFaceSaleWrongPasswordDeclined(t *testing.T) {
	r := faceSetup(t, "000000", nil)
	tx, _ := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
	if got := wait(t, r.e, tx.ID); got.State != store.StateDeclined || got.Face == nil || got.Face.Status != "declined" {
		t.Fatalf("wrong password: %+v %+v", got, got.Face)
	}
}

// After a declined password the sale is over: the terminal ends the
// platform's session too, rather than leave it open for another confirm.
func TestFaceSaleDeclinedCancelsSession(t *testing.T) {
	for _, c := range []struct {
		name     string
		password string
		confirm  error
	}{
		{"wrong password", "000000", nil},
		{"locked", "135790", &facepay.DeclinedError{Reason: facepay.ReasonLocked}},
		{"refused", "135790", &facepay.RejectedError{Op: "confirm", Status: 409, Code: facepay.CodeKSNReused}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := faceSetup(t, c.password, func(r *faceRig) { r.platform.confirm = c.confirm })
			tx, _ := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
			got := wait(t, r.e, tx.ID)
			if got.State == store.StateApproved {
				t.Fatalf("approved: %+v", got)
			}
			r.platform.mu.Lock()
			defer r.platform.mu.Unlock()
			if r.platform.cancels != 1 {
				t.Fatalf("%s: the platform session was cancelled %d times, want 1 (%+v)", c.name, r.platform.cancels, got)
			}
		})
	}
	// An approval leaves the (ended) session alone.
	r := faceSetup(t, "135790", nil)
	tx, _ := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
	if got := wait(t, r.e, tx.ID); got.State != store.StateApproved || r.platform.cancels != 0 {
		t.Fatalf("approved sale: %+v, %d cancels", got, r.platform.cancels)
	}
}

// No consent, no look: the liveness check (the camera) is never asked.
func TestFaceSaleNoConsentReadsNoFrame(t *testing.T) {
	for _, c := range []*fakeConsent{{answer: false}, {answer: true, gate: make(chan struct{})}} {
		r := faceSetup(t, "135790", func(r *faceRig) { r.consent = c })
		tx, _ := r.e.Start(Request{Amount: 1200, Currency: "156", Method: MethodFace})
		got := wait(t, r.e, tx.ID)
		if got.State != store.StateFailed || Failure(got.Failure) != FailFaceNoConsent || r.live.calls != 0 || len(r.platform.opened) != 0 {
			t.Fatalf("no consent: %+v, liveness called %d times", got, r.live.calls)
		}
	}
}

func TestFaceSaleRefusals(t *testing.T) {
	// Over the face-pay limit (risk rule max_amount.face, 1000.00): not
	// even the consent is asked.
	r := faceSetup(t, "135790", nil)
	tx, _ := r.e.Start(Request{Amount: 120000, Currency: "156", Method: MethodFace})
	if got := wait(t, r.e, tx.ID); got.State != store.StateFailed || got.RiskRule != string(risk.RuleMaxAmountFace) || r.consent.asked != 0 {
		t.Fatalf("over the limit: %+v (consent asked %d)", got, r.consent.asked)
	}
	// A spoof: refused with its reasons, nothing sent.
	r = faceSetup(t, "135790", func(r *faceRig) {
		r.live.check = FaceCheck{Decision: "spoof", Challenge: "left", Reasons: []string{"flat motion (single homography)"}}
		r.live.crop = nil
	})
	tx, _ = r.e.Start(Request{Amount: 100, Currency: "156", Method: MethodFace})
	got := wait(t, r.e, tx.ID)
	if got.State != store.StateFailed || Failure(got.Failure) != FailFaceSpoof || len(got.Face.Reasons) != 1 || len(r.platform.opened) != 0 {
		t.Fatalf("spoof: %+v %+v", got, got.Face)
	}
	// No camera: refused before the consent.
	r = faceSetup(t, "135790", func(r *faceRig) { r.live.ready = errors.New("no camera") })
	tx, _ = r.e.Start(Request{Amount: 100, Currency: "156", Method: MethodFace})
	if got := wait(t, r.e, tx.ID); Failure(got.Failure) != FailFaceUnavailable || r.consent.asked != 0 {
		t.Fatalf("no camera: %+v", got)
	}
	// No match at the platform.
	r = faceSetup(t, "135790", func(r *faceRig) { r.platform.identify = facepay.ErrNoMatch })
	tx, _ = r.e.Start(Request{Amount: 100, Currency: "156", Method: MethodFace})
	if got := wait(t, r.e, tx.ID); Failure(got.Failure) != FailFaceNoMatch {
		t.Fatalf("no match: %+v", got)
	}
}

// A check that found too little ("retry": the customer looked away, a
// second face passed by) is run again with a new challenge and a "try
// again" on the display, up to FacePay.Attempts; a spoof never is.
func TestFaceCheckRetriedInSale(t *testing.T) {
	retry := FaceCheck{Decision: "retry", Challenge: "left", Reasons: []string{"challenge not done"}}
	spoof := FaceCheck{Decision: "spoof", Challenge: "closer", Reasons: []string{"flat motion (single homography)"}}
	for _, c := range []struct {
		name     string
		seq      []FaceCheck
		attempts int
		state    store.State
		failure  Failure
		calls    int
	}{
		{"retry then live", []FaceCheck{retry, liveCheck}, 0, store.StateApproved, "", 2},
		{"retry twice", []FaceCheck{retry, retry, liveCheck}, 0, store.StateFailed, FailFaceRetry, 2},
		{"three attempts", []FaceCheck{retry, retry, liveCheck}, 3, store.StateApproved, "", 3},
		{"one attempt", []FaceCheck{retry, liveCheck}, 1, store.StateFailed, FailFaceRetry, 1},
		{"spoof not retried", []FaceCheck{spoof, liveCheck}, 0, store.StateFailed, FailFaceSpoof, 1},
		{"retry then spoof", []FaceCheck{retry, spoof, liveCheck}, 3, store.StateFailed, FailFaceSpoof, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := faceSetup(t, "135790", func(r *faceRig) { r.live.seq = c.seq })
			r.e.o.Face.Attempts = c.attempts
			events, stop := r.e.Subscribe()
			defer stop()
			tx, err := r.e.Start(Request{Amount: 3300, Currency: "156", Method: MethodFace})
			if err != nil {
				t.Fatal(err)
			}
			got := wait(t, r.e, tx.ID)
			if got.State != c.state || Failure(got.Failure) != c.failure || r.live.calls != c.calls ||
				got.Face == nil || got.Face.Attempts != c.calls || got.Face.Decision != c.seq[c.calls-1].Decision {
				t.Fatalf("%+v %+v, %d checks", got, got.Face, r.live.calls)
			}
			var hints []string
			for done := false; !done; {
				select {
				case ev := <-events:
					if ev.Phase == PhaseFaceCheck {
						hints = append(hints, ev.Message)
					}
					done = ev.Phase == PhaseDone
				case <-time.After(5 * time.Second):
					t.Fatalf("hints so far %q", hints)
				}
			}
			want := []string{""}
			for range c.calls - 1 {
				want = append(want, FaceHintTryAgain)
			}
			if strings.Join(hints, "|") != strings.Join(want, "|") {
				t.Fatalf("hints %q, want %q", hints, want)
			}
		})
	}
}

// A confirmation whose answer is lost may have paid: the order is
// reversed at the platform until it acknowledges.
func TestFaceConfirmUnknownIsReversed(t *testing.T) {
	r := faceSetup(t, "135790", func(r *faceRig) { r.platform.confirm = facepay.ErrUnavailable })
	tx, _ := r.e.Start(Request{Amount: 3000, Currency: "156", Method: MethodFace})
	got := wait(t, r.e, tx.ID)
	// The outbox may have reversed it already by the time the waiter
	// reads it (its first attempt runs at once).
	if got.State != store.StateReversalPending && got.State != store.StateReversed {
		t.Fatalf("lost confirm: %+v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ = r.e.Get(tx.ID)
		if got.State == store.StateReversed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reversed: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.platform.mu.Lock()
	defer r.platform.mu.Unlock()
	if len(r.platform.reversed) == 0 || r.platform.reversed[0] != r.e.orderID(tx.ID) {
		t.Fatalf("reversed %v", r.platform.reversed)
	}
}

// A platform that no longer reverses the order (it paid it and forgot
// it): the reversal is not asked for again, and the record says to
// settle it by hand.
func TestFaceReverseExpired(t *testing.T) {
	r := faceSetup(t, "135790", func(r *faceRig) {
		r.platform.confirm = facepay.ErrUnavailable
		r.platform.reverse = &facepay.RejectedError{Op: "reverse", Status: 409, Code: facepay.CodeReverseExpired}
	})
	tx, _ := r.e.Start(Request{Amount: 3000, Currency: "156", Method: MethodFace})
	wait(t, r.e, tx.ID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		jobs, err := r.db.Jobs()
		if err == nil && len(jobs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reversal job stays: %+v, %v", jobs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, _ := r.e.Get(tx.ID)
	if got.State != store.StateReversalPending || got.Face.Status != facepay.CodeReverseExpired || !strings.Contains(got.Error, "by hand") {
		t.Fatalf("record %+v", got)
	}
	wantAside(t, r.e, tx.ID, AsideFaceNotReversed)
	// A restart does not ask again either, nor send the card acquirer a
	// reversal of a sale it never had.
	if err := r.e.recover(); err != nil {
		t.Fatal(err)
	}
	if jobs, err := r.db.Jobs(); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs after a restart's recovery: %+v, %v", jobs, err)
	}
	r.e.Sync(context.Background())
	r.platform.mu.Lock()
	defer r.platform.mu.Unlock()
	if len(r.platform.reversed) != 1 {
		t.Fatalf("reverse asked %d times", len(r.platform.reversed))
	}
}

// A restart finds a face or wallet payment waiting for its reversal with
// no job (an older firmware's, or a job lost): it is reversed at its
// platform, never at the card acquirer.
func TestRecoveryReversesPlatformPaymentsAtTheirPlatform(t *testing.T) {
	e, _, db, _ := setup(t, &fakeHost{})
	want := map[string]store.JobKind{}
	for _, rec := range []store.Txn{
		{Kind: "purchase", Amount: 100, Currency: "156", Face: &store.Face{OrderID: "F1"}},
		{Kind: "purchase", Amount: 100, Currency: "156", Wallet: &store.Wallet{Platform: "wechat", OrderID: "P1"}},
		{Kind: "purchase", Amount: 100, Currency: "156", STAN: 9},
	} {
		err := db.Do(func(tx *store.Tx) error {
			first, err := tx.ReserveIDs(1)
			if err != nil {
				return err
			}
			rec.ID = strconv.FormatUint(first, 10)
			rec.State = store.StateAuthSent
			if err := tx.Insert(&rec); err != nil {
				return err
			}
			_, err = tx.Update(rec.ID, func(r *store.Txn) error { r.State = store.StateReversalPending; return nil })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.Face != nil:
			want[rec.ID] = store.JobFaceCancel
		case rec.Wallet != nil:
			want[rec.ID] = store.JobWalletCancel
		default:
			want[rec.ID] = store.JobReversal
		}
	}
	if err := e.recover(); err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.JobKind{}
	for _, j := range jobs {
		got[j.TxnID] = j.Kind
	}
	if !maps.Equal(got, want) {
		t.Fatalf("jobs %v, want %v", got, want)
	}
}

// The customer chooses face pay on the display while the card sale waits
// for a card: the same sale goes on as face pay.
func TestChooseFaceDuringCardWait(t *testing.T) {
	r := faceSetup(t, "135790", nil)
	events, stop := r.e.Subscribe()
	defer stop()
	tx := chooseFaceInCardSale(t, r.e, events, 4200)
	if got := wait(t, r.e, tx.ID); got.State != store.StateApproved || got.Face == nil {
		t.Fatalf("chosen face: %+v", got)
	}
	if err := r.e.ChooseFace(tx.ID); err == nil {
		t.Fatal("a finished sale switched to face pay")
	}
}

// chooseFaceInCardSale starts a card sale of amount and, once it waits for
// a card, switches it to face pay as the display's button does.
func chooseFaceInCardSale(t *testing.T, e *Engine, events <-chan Event, amount int64) store.Txn {
	t.Helper()
	tx, err := e.StartSale(amount, "156")
	if err != nil {
		t.Fatal(err)
	}
	waitPhase(t, events, PhaseWaitCard)
	if err := e.ChooseFace(tx.ID); err != nil {
		t.Fatal(err)
	}
	return tx
}

// The customer who chose face pay on the display and then pressed Cancel
// at the consent pays another way, in the same sale: it waits for a card
// again (the camera never turned on).
func TestChooseFaceThenDeclineGoesBackToTheCard(t *testing.T) {
	r := faceSetup(t, "135790", func(r *faceRig) { r.consent = &fakeConsent{answer: false} })
	events, stop := r.e.Subscribe()
	defer stop()
	tx := chooseFaceInCardSale(t, r.e, events, 4200)
	waitPhase(t, events, PhaseFaceConsent)
	waitPhase(t, events, PhaseWaitCard)
	r.reader.cards <- card("3012")
	if got := wait(t, r.e, tx.ID); got.State != store.StateApproved || got.Face != nil || got.MaskedPAN == "" || r.live.calls != 0 {
		t.Fatalf("paid by card after declining face pay: %+v (liveness called %d times)", got, r.live.calls)
	}
	// Chosen again in a later sale and declined again: the same.
	tx = chooseFaceInCardSale(t, r.e, events, 100)
	waitPhase(t, events, PhaseWaitCard)
	if err := r.e.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r.e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailCancelled {
		t.Fatalf("cancelled at the card prompt: %+v", got)
	}
}

// Whatever answers at the platform's address without the terminal's key
// (a man in the middle, a stray server) approves no face sale: an
// unsigned candidate fails the sale face_platform before the password,
// and an unsigned approval of the confirm is no approval (the outcome
// is unknown: the order is reversed at the platform).
func TestFaceSaleForgedAnswers(t *testing.T) {
	key := []byte("T0000001's face-pay link key....")
	candidate := `{"order_id":"%s","session":"S1","masked":"6230****0012"}`
	approved := `{"order_id":"%s","status":"approved","platform_txn_id":"FORGED"}`
	for _, c := range []struct {
		name      string
		signIdent bool // the identify's answer is genuine (signed)
		state     store.State
		failure   Failure
	}{
		{"forged candidate", false, store.StateFailed, FailFacePlatform},
		{"forged approval", true, store.StateReversalPending, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var b struct {
					OrderID string `json:"order_id"`
				}
				body, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(body, &b)
				var ans string
				switch r.URL.Path {
				case facepay.PathIdentify:
					ans = fmt.Sprintf(candidate, b.OrderID)
					if c.signIdent {
						w.Header().Set(facepay.HeaderSignature, linksig.SignResponse(key, r.URL.Path, r.Header.Get(facepay.HeaderSignature), []byte(ans)))
					}
				default:
					ans = fmt.Sprintf(approved, b.OrderID) // never signed
				}
				_, _ = io.WriteString(w, ans)
			}))
			defer srv.Close()
			client, err := facepay.NewHTTP(facepay.HTTPOpts{BaseURL: srv.URL, TerminalID: "T0000001", Key: key})
			if err != nil {
				t.Fatal(err)
			}
			r := faceSetup(t, "135790", nil)
			r.e.o.Face.Platform = client
			tx, _ := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
			got := wait(t, r.e, tx.ID)
			if got.State != c.state || Failure(got.Failure) != c.failure || got.Face == nil || got.Face.PlatformTxnID == "FORGED" ||
				!strings.Contains(got.Error, "signature") {
				t.Fatalf("%+v %+v", got, got.Face)
			}
		})
	}
}

// waitingPassword is a PIN pad where the customer types the password
// only once typed is closed (nil: never).
type waitingPassword struct {
	digits string
	typed  chan struct{}
}

func (p waitingPassword) ReadPIN(ctx context.Context, progress func(pin.Progress), build func([]byte) ([]byte, error)) ([]byte, error) {
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("pin: %w", ctx.Err())
	case <-p.typed:
	}
	return typedPassword{p.digits}.ReadPIN(ctx, progress, build)
}

// TestFaceCancelledAtThePassword: the cashier cancels while the customer
// is asked for the payment password. The PIN pad stops, the platform's
// session is ended and the sale is cancelled at once (not after the PIN
// pad's timeout); a password typed as the cashier cancelled confirms
// nothing.
func TestFaceCancelledAtThePassword(t *testing.T) {
	for _, c := range []struct {
		name       string
		typedAfter bool // the customer types just after the cancel
	}{{"waiting", false}, {"typed as cancelled", true}} {
		t.Run(c.name, func(t *testing.T) {
			pad := waitingPassword{digits: "135790", typed: make(chan struct{})}
			r := faceSetup(t, "135790", nil)
			r.e.o.Face.Password = pad
			events, stop := r.e.Subscribe()
			defer stop()
			tx, err := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
			if err != nil {
				t.Fatal(err)
			}
			for ev := waitPhase(t, events, PhasePIN); ev.Prompt != "password"; ev = waitPhase(t, events, PhasePIN) {
			}
			if c.typedAfter {
				r.e.mu.Lock()
				r.e.sale.cancelled = true // the cancel arrives as the customer presses Enter
				r.e.mu.Unlock()
				close(pad.typed)
			} else if err := r.e.Cancel(tx.ID); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			got, _ := r.e.Wait(ctx, tx.ID)
			r.platform.mu.Lock()
			cancels := r.platform.cancels
			r.platform.mu.Unlock()
			if got.State != store.StateFailed || Failure(got.Failure) != FailCancelled || cancels != 1 {
				t.Fatalf("cancelled at the password: state %s failure %q, sessions cancelled %d", got.State, got.Failure, cancels)
			}
		})
	}
}

// TestFaceCancelledWhileConfirming: the cashier cancels once the
// password has left for the platform. The cancel is accepted (as a card
// sale's once its request left), so the sale must not end approved: an
// approval that arrives after it is reversed at the platform, as a card
// approval the cashier cancelled is reversed at the acquirer.
func TestFaceCancelledWhileConfirming(t *testing.T) {
	r := faceSetup(t, "135790", func(r *faceRig) {
		r.platform.confirming, r.platform.release = make(chan struct{}), make(chan struct{})
	})
	tx, err := r.e.Start(Request{Amount: 2000, Currency: "156", Method: MethodFace})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.platform.confirming:
	case <-time.After(5 * time.Second):
		t.Fatal("the password never reached the platform")
	}
	cerr := r.e.Cancel(tx.ID)
	close(r.platform.release)
	got := wait(t, r.e, tx.ID)
	if cerr != nil {
		// A refused cancel leaves the sale to its outcome.
		if got.State != store.StateApproved {
			t.Fatalf("cancel refused (%v), sale %s", cerr, got.State)
		}
		return
	}
	if got.State != store.StateReversalPending && got.State != store.StateReversed {
		t.Fatalf("cancel accepted while confirming, sale ended %s (%s)", got.State, got.Error)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.platform.mu.Lock()
		n := len(r.platform.reversed)
		r.platform.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approved order never reversed at the platform: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ = r.e.Get(tx.ID); got.Reason != string(host.ReasonTerminalCancel) {
		t.Fatalf("reason %q", got.Reason)
	}
}
