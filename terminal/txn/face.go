package txn

import (
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"time"

	"posd/crypto/faceseal"
	"posd/terminal/facepay"
	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
)

// MethodFace is Request.Method of a sale paid by face: the customer
// consents on the keypad, the camera checks liveness on the device, the
// face-pay platform finds the customer's account from the encrypted face
// crop, and the customer confirms with the account's payment password on
// the PIN pad. Face is never the only factor.
const MethodFace = "face"

// PasswordDigits is the length of a face-pay payment password.
const PasswordDigits = 6

// Consent waits for the customer's consent on the keypad: Enter gives
// it, Cancel refuses it. Nothing else is read while it waits: the camera
// stays closed. It discards keys pressed before, then calls asked (the
// display then asks), then waits.
type Consent interface {
	WaitConsent(ctx context.Context, asked func()) (bool, error)
}

// Liveness looks at the customer: it opens the camera (never before it is
// called), runs one liveness attempt with a challenge it draws at random,
// tells show what to display, and closes the camera. On a live decision
// it returns the best face crop as JPEG bytes the caller wipes; no frame
// outlives the call.
type Liveness interface {
	// Ready says why no check can run (no camera, no OpenCV), nil when
	// one can: asked before the customer is asked to consent.
	Ready() error
	Check(ctx context.Context, show func(FacePrompt)) (FaceCheck, []byte, error)
}

// FacePrompt is what the customer display shows during the liveness
// check: the challenge, and a hint ("one face only please").
type FacePrompt struct {
	Challenge string
	Hint      string
}

// FaceCheck is a liveness attempt's decision: "live", "spoof" or
// "retry", with every signal's score and the reasons of a refusal.
type FaceCheck struct {
	Decision  string
	Challenge string
	Scores    map[string]float64
	Reasons   []string
	Frames    int
	Video     time.Duration
}

// FacePay is what face pay needs besides the engine's keys and risk
// rules. All of it is required for MethodFace sales.
type FacePay struct {
	Consent  Consent
	Liveness Liveness
	// Password reads the 6-digit payment password on the PIN pad (a PIN
	// entry of exactly PasswordDigits digits).
	Password PINPad
	Platform facepay.Client
	// PlatformKey is the face-pay platform's pinned public key: the crop
	// is sealed to it (crypto/faceseal) before it leaves.
	PlatformKey *ecdh.PublicKey
	// TerminalID goes into the sealed crop's associated data.
	TerminalID string
	// Rand seals (nil: crypto/rand).
	Rand io.Reader
	// ConsentTimeout bounds the wait for the customer's Enter (default
	// 30 s).
	ConsentTimeout time.Duration
	// Attempts is how many liveness checks one sale may run when a check
	// ends "retry" (no face long enough, a second face in view, the
	// challenge not done in time): the customer is asked to try again
	// with a new challenge. A "spoof" is never retried. 0:
	// DefaultFaceAttempts.
	Attempts int
}

// DefaultFaceAttempts is FacePay.Attempts when not set: one more try
// after a check that found too little.
const DefaultFaceAttempts = 2

// FaceHintTryAgain is the hint of a liveness check that follows one
// which ended "retry" (FacePrompt.Hint, Event.Message).
const FaceHintTryAgain = "try again"

// faceSealAAD binds a sealed crop to its terminal, order and amount; the
// platform opens it with the same bytes (terminal/facepay.AAD).
func faceSealAAD(terminal, order string, amount int64, currency string) []byte {
	return facepay.AAD(terminal, order, amount, currency)
}

// stepFace runs a face-pay sale: the risk rules (entry face: the face-pay
// limit is max_amount.face), consent on the keypad (no frame is read
// before it), the liveness check, the crop sealed for the platform, the
// order committed (auth_sent) before it leaves, the platform's candidate
// account, the payment password, the platform's answer.
func (e *Engine) stepFace(ctx context.Context, s *sale) error {
	fp := e.o.Face
	if fp == nil {
		e.fail(s, FailFaceUnavailable, fmt.Errorf("%w: this terminal has no face pay", ErrFace))
		return nil
	}
	s.mode = risk.EntryFace
	if e.o.Risk != nil {
		s.decision = e.o.Risk.Check(ctx, risk.Txn{Type: risk.TypeSale, Amount: s.rec.Amount, Currency: s.rec.Currency,
			Entry: risk.EntryFace, Online: true})
		if !s.decision.Allow {
			return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
				r.State, r.Failure, r.EntryMode = store.StateFailed, string(FailRisk), string(risk.EntryFace)
				r.RiskRule, r.Error = string(s.decision.Rule), fmt.Errorf("%w: %s", ErrRisk, s.decision.Reason).Error()
				return nil
			})
		}
	}

	if err := fp.Liveness.Ready(); err != nil {
		e.fail(s, FailFaceUnavailable, fmt.Errorf("%w: %w", ErrFace, err))
		return nil
	}
	// Consent first: the camera is not touched before the customer's Enter.
	ct := fp.ConsentTimeout
	if ct <= 0 {
		ct = 30 * time.Second
	}
	cctx, ccancel := context.WithTimeout(ctx, ct)
	ok, err := fp.Consent.WaitConsent(cctx, func() {
		e.mu.Lock()
		e.publishEvent(Event{Phase: PhaseFaceConsent, Txn: s.rec})
		e.mu.Unlock()
	})
	ccancel()
	if err != nil && e.endIfStopped(ctx, s) {
		return nil
	}
	switch {
	case err == nil && !ok && s.faceChosen:
		// The customer chose face pay on the display while the card
		// sale waited, then declined: the same sale waits for a card
		// again ("Cancel to pay another way"); nothing was read.
		e.log.Info("customer declined face pay: waiting for a card again", "id", s.rec.ID)
		e.mu.Lock()
		s.method, s.faceChosen = "", false
		e.publishEvent(Event{Phase: PhaseWaitCard, Txn: s.rec})
		e.mu.Unlock()
		return nil
	case err == nil && !ok:
		e.fail(s, FailFaceNoConsent, fmt.Errorf("%w: the customer declined", ErrFaceConsent))
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		e.fail(s, FailFaceNoConsent, fmt.Errorf("%w: no consent within %v", ErrFaceConsent, ct))
		return nil
	case err != nil:
		e.fail(s, FailFaceUnavailable, fmt.Errorf("%w: keypad: %w", ErrFace, err))
		return nil
	}
	consentAt := e.clock.Now().UTC()
	face := &store.Face{ConsentAt: consentAt}

	check, crop, err := e.faceChecks(ctx, s, face)
	defer clear(crop)
	if err != nil {
		clear(crop)
		if e.endIfStopped(ctx, s) {
			return nil
		}
		e.fail(s, FailFaceUnavailable, fmt.Errorf("%w: %w", ErrFace, err))
		return nil
	}
	if check.Decision != "live" || len(crop) == 0 {
		clear(crop)
		f := FailFaceSpoof
		if check.Decision != "spoof" {
			f = FailFaceRetry
		}
		e.log.Info("face not accepted", "id", s.rec.ID, "decision", check.Decision, "reasons", check.Reasons)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.EntryMode, r.Face = store.StateFailed, string(f), string(risk.EntryFace), snapFace(face)
			r.Error = fmt.Errorf("%w: %s %v", ErrFaceLiveness, check.Decision, check.Reasons).Error()
			return nil
		})
	}

	oid := e.orderID(s.rec.ID)
	face.OrderID = oid
	sealed, err := faceseal.Seal(fp.PlatformKey, crop, faceSealAAD(fp.TerminalID, oid, s.rec.Amount, s.rec.Currency), fp.Rand)
	clear(crop)
	if err != nil {
		e.fail(s, FailFaceUnavailable, fmt.Errorf("%w: sealing the crop: %w", ErrFace, err))
		return nil
	}
	// The DUKPT session of the payment password: taken (and its state
	// stored) with the request's commit, as a card sale's.
	sess, err := e.session(s)
	if err != nil {
		e.fail(s, FailKeys, fmt.Errorf("%w: %w", ErrKeys, err))
		return nil
	}
	s.sess = sess
	e.mu.Lock()
	if ctx.Err() != nil {
		e.mu.Unlock()
		e.endIfStopped(ctx, s)
		return nil
	}
	e.sending, s.lateCancel = true, true
	e.mu.Unlock()
	s.sentAt = e.clock.Now()
	if err := e.commit(s, PhaseProcessing, func(tx *store.Tx, r *store.Txn) error {
		if err := tx.AssignNumbers(r); err != nil {
			return err
		}
		r.State, r.SentAt, r.EntryMode, r.Face = store.StateAuthSent, s.sentAt.UTC(), string(risk.EntryFace), snapFace(face)
		r.KSN = fmt.Sprintf("%X", sess.KSN())
		return nil
	}); err != nil {
		return err
	}
	hctx, hcancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	cand, err := fp.Platform.Identify(hctx, facepay.IdentifyRequest{OrderID: oid, Amount: s.rec.Amount, Currency: s.rec.Currency,
		Sealed: sealed, Liveness: check.Scores, Challenge: check.Challenge, ConsentAt: consentAt})
	hcancel()
	clear(sealed)
	if err != nil {
		return e.faceEnd(s, face, facepay.Result{}, err, false)
	}
	face.MaskedAccount = cand.Masked
	// The password's PIN block is bound to this session, order and
	// amount in the PAN's place: the platform never tells the terminal
	// the account number, and the block is no password anywhere else.
	binding := facepay.PasswordBinding(fp.TerminalID, cand.Session, oid, s.rec.Amount, s.rec.Currency)

	// The second factor: the account's payment password, enciphered
	// under the session's DUKPT PIN key.
	// The cashier's cancel stops the PIN pad: the request has left, so
	// the sale's own context is no longer cancelled (Engine.Cancel).
	pctx, pstop := context.WithCancel(ctx)
	defer pstop()
	e.mu.Lock()
	s.onCancel = pstop
	if s.cancelled {
		pstop()
	}
	e.publishEvent(Event{Phase: PhasePIN, Txn: s.rec, Prompt: "password", Message: cand.Masked})
	e.mu.Unlock()
	block, err := fp.Password.ReadPIN(pctx, func(p pin.Progress) {
		e.mu.Lock()
		e.publishEvent(pinEvent(Event{Phase: PhasePIN, Txn: s.rec, Prompt: "password", Message: cand.Masked}, p))
		e.mu.Unlock()
	}, func(digits []byte) ([]byte, error) {
		if len(digits) != PasswordDigits {
			return nil, fmt.Errorf("a payment password has %d digits", PasswordDigits)
		}
		return sess.EncryptPINDigits(digits, binding)
	})
	e.mu.Lock()
	// From here a cancel is too late to stop the confirmation: an
	// approval is then reversed at the platform.
	s.onCancel = nil
	cancelled := s.cancelled
	e.mu.Unlock()
	if err == nil && cancelled {
		// Typed as the cashier cancelled: nothing is confirmed.
		clear(block)
		err = ErrCancelled
	}
	if err != nil {
		e.cancelFaceSession(s, cand.Session, "no password")
		f, cause := FailPINUnavailable, fmt.Errorf("%w: %w", ErrPIN, err)
		switch {
		case e.ctx.Err() != nil:
			f, cause = FailShutdown, ErrShutdown
		case ctx.Err() != nil || cancelled:
			f, cause = FailCancelled, ErrCancelled
		case errors.Is(err, pin.ErrCancelled), errors.Is(err, pin.ErrTimeout):
			f, cause = failureOf(err), err
		}
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Error, r.Face = store.StateFailed, string(f), cause.Error(), snapFace(face)
			return nil
		})
	}
	s.cvm = risk.CVMPaymentPassword
	e.mu.Lock()
	e.publishEvent(Event{Phase: PhaseProcessing, Txn: s.rec})
	e.mu.Unlock()
	hctx, hcancel = context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	res, err := fp.Platform.Confirm(hctx, facepay.ConfirmRequest{Session: cand.Session, OrderID: oid, Amount: s.rec.Amount,
		Currency: s.rec.Currency, PINBlock: block, KSN: sess.KSN()})
	hcancel()
	clear(block)
	if err != nil && !errors.Is(err, facepay.ErrUnavailable) {
		// Declined (a wrong password, the account locked) or refused:
		// this sale confirms nothing more, so the session is ended at
		// the platform too. (An unknown outcome is reversed instead.)
		e.cancelFaceSession(s, cand.Session, "declined")
	}
	return e.faceEnd(s, face, res, err, true)
}

// cancelFaceSession ends a face-pay session the sale will not confirm
// (again) at the platform: best effort, logged; a session left open
// expires there anyway.
func (e *Engine) cancelFaceSession(s *sale, session, why string) {
	hctx, hcancel := context.WithTimeout(e.hostCtx, e.o.HostTimeout)
	err := e.o.Face.Platform.Cancel(hctx, session)
	hcancel()
	if err != nil {
		e.log.Warn("face-pay session not cancelled at the platform", "id", s.rec.ID, "why", why, "err", err)
		return
	}
	e.log.Info("face-pay session cancelled at the platform", "id", s.rec.ID, "why", why)
}

// faceEnd commits the platform's answer. Only an approval moves money:
// every refusal (no match, wrong password, over the limit, a platform
// that cannot be reached before the password) ends the sale failed or
// declined. A confirmation whose answer was lost (confirmed, and the
// platform unreachable) may have paid: the order is reversed at the
// platform by the outbox (face_cancel), like a card reversal.
func (e *Engine) faceEnd(s *sale, face *store.Face, res facepay.Result, err error, confirmed bool) error {
	face.Status, face.PlatformTxnID = res.Status, res.PlatformTxnID
	switch {
	case err == nil && res.Status == facepay.StatusApproved && e.cancelledAfterSend(s):
		// Approved as the cashier cancelled (Engine.Cancel accepted it
		// once the password had left): undone at the platform by the
		// outbox, as a card approval the cashier cancelled is reversed.
		e.log.Warn("face payment approved as the cashier cancelled, reversal queued", "id", s.rec.ID)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Reason, r.ResponseCode = store.StateReversalPending, string(host.ReasonTerminalCancel), "00"
			r.CVM, r.Face = string(risk.CVMPaymentPassword), snapFace(face)
			r.Error = "the cashier cancelled before the payment completed"
			return tx.Enqueue(&store.Job{Kind: store.JobFaceCancel, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	case err == nil && res.Status == facepay.StatusApproved:
		e.log.Info("face payment approved", "id", s.rec.ID)
		if e.o.Risk != nil {
			if rerr := e.o.Risk.Record(e.ctx, risk.Txn{Type: risk.TypeSale, Amount: s.rec.Amount, Currency: s.rec.Currency,
				Entry: risk.EntryFace, Online: true}, true); rerr != nil {
				e.log.Warn("risk record", "id", s.rec.ID, "err", rerr)
			}
		}
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.CVM, r.Face = store.StateApproved, "00", string(risk.CVMPaymentPassword), snapFace(face)
			return nil
		})
	case err == nil || errors.Is(err, facepay.ErrWrongPassword) || errors.Is(err, facepay.ErrLocked):
		why := res.Reason
		if err != nil {
			why = err.Error()
			face.Status = "declined"
		}
		e.log.Info("face payment declined", "id", s.rec.ID, "reason", why)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.ResponseCode, r.CVM, r.Face = store.StateDeclined, "55", string(risk.CVMPaymentPassword), snapFace(face)
			r.Error = fmt.Errorf("%w: %s", ErrFaceDeclined, why).Error()
			return nil
		})
	case confirmed && errors.Is(err, facepay.ErrUnavailable):
		e.log.Warn("face payment outcome unknown, reversal queued", "id", s.rec.ID, "err", err)
		if cerr := e.commit(s, PhaseDone, func(tx *store.Tx, r *store.Txn) error {
			r.State, r.Reason, r.Face = store.StateReversalPending, string(host.ReasonNoResponse), snapFace(face)
			r.Error = fmt.Errorf("%w: %w", ErrFace, err).Error()
			return tx.Enqueue(&store.Job{Kind: store.JobFaceCancel, TxnID: r.ID})
		}); cerr != nil {
			return cerr
		}
		e.wake()
		return nil
	default:
		f := FailFacePlatform
		if errors.Is(err, facepay.ErrNoMatch) {
			f = FailFaceNoMatch
		}
		e.log.Info("face payment refused", "id", s.rec.ID, "failure", f, "err", err)
		return e.commit(s, PhaseDone, func(_ *store.Tx, r *store.Txn) error {
			r.State, r.Failure, r.Face = store.StateFailed, string(f), snapFace(face)
			r.Error = fmt.Errorf("%w: %w", ErrFace, err).Error()
			return nil
		})
	}
}

// ChooseFace switches sale id, a purchase waiting for a card, to face
// pay: the customer chose "pay by face" on the display. ErrKind when the
// terminal has no face pay or the sale is not a card purchase waiting for
// a card.
func (e *Engine) ChooseFace(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sale
	switch {
	case e.o.Face == nil:
		return fmt.Errorf("%w: this terminal has no face pay", ErrKind)
	case e.active != id || s == nil || s.rec.ID != id:
		return fmt.Errorf("%w: %s is not in progress", store.ErrState, id)
	case s.method != "" || s.rec.Kind != string(host.KindPurchase) || s.orig != nil || e.sending || s.holdsCard.Load():
		return fmt.Errorf("%w: only a card sale still waiting for a card can switch to face pay", ErrKind)
	}
	s.faceChosen = true
	if s.stopCardWait != nil {
		s.stopCardWait()
	}
	return nil
}

// faceCancel sends one attempt of job j's reversal of a face payment at
// its platform (the order is cancelled, or refunded when it was paid);
// the platform's acknowledgement ends the record reversed and the job.
func (e *Engine) faceCancel(ctx context.Context, j store.Job) error {
	t, ok, err := e.takeCancelJob(&j, func(t store.Txn) bool { return t.Face != nil })
	if !ok {
		return err
	}
	if e.o.Face == nil {
		return errors.New("no face-pay platform configured")
	}
	hctx, cancel := context.WithTimeout(ctx, e.o.HostTimeout)
	defer cancel()
	res, err := e.o.Face.Platform.Reverse(hctx, t.Face.OrderID)
	if errors.Is(err, facepay.ErrReverseExpired) {
		// Asking again cannot change it: the record stays
		// reversal_pending, for the merchant to settle by hand.
		e.log.Error("face payment can no longer be reversed at the platform: settle it by hand",
			"id", t.ID, "order", t.Face.OrderID, "amount", t.Amount, "err", err)
		_, err = e.endJob(&j, t.ID, func(r *store.Txn) {
			r.Face.Status = facepay.CodeReverseExpired
			r.Error = "the face-pay platform no longer reverses order " + t.Face.OrderID +
				": it may have been paid; settle it with the platform by hand (a refund if it was paid)"
		})
		return err
	}
	if err != nil {
		return err
	}
	t, err = e.endJob(&j, t.ID, func(r *store.Txn) {
		r.State = store.StateReversed
		r.Face.Status = res.Status
	})
	if err == nil {
		e.log.Info("face payment reversed at the platform", "id", t.ID, "status", res.Status)
	}
	return err
}

// faceChecks runs the liveness check, again with a new challenge while
// one ends "retry" and attempts are left (FacePay.Attempts); a "live" or
// "spoof" ends it at once. face keeps the last check's decision and
// scores and how many checks ran. The crop is the caller's to wipe.
func (e *Engine) faceChecks(ctx context.Context, s *sale, face *store.Face) (FaceCheck, []byte, error) {
	fp := e.o.Face
	attempts := fp.Attempts
	if attempts <= 0 {
		attempts = DefaultFaceAttempts
	}
	for n := 1; ; n++ {
		again := n > 1
		check, crop, err := fp.Liveness.Check(ctx, func(p FacePrompt) {
			if again && p.Hint == "" {
				p.Hint = FaceHintTryAgain
			}
			e.mu.Lock()
			e.publishEvent(Event{Phase: PhaseFaceCheck, Txn: s.rec, Challenge: p.Challenge, Message: p.Hint})
			e.mu.Unlock()
		})
		if err != nil {
			return check, crop, err
		}
		face.Attempts = n
		face.Challenge, face.Decision, face.Scores, face.Reasons = check.Challenge, check.Decision, check.Scores, check.Reasons
		face.Frames, face.VideoMS = check.Frames, check.Video.Milliseconds()
		if check.Decision != "retry" || n >= attempts {
			return check, crop, nil
		}
		clear(crop)
		e.log.Info("face check found too little, trying again", "id", s.rec.ID, "attempt", n, "reasons", check.Reasons)
		if err := ctx.Err(); err != nil {
			return check, nil, err
		}
	}
}

// snapFace copies the face record for a commit: the sale goes on
// filling its own.
func snapFace(f *store.Face) *store.Face {
	c := *f
	return &c
}
