package emv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"posd/conn/apdu"
	cemv "posd/crypto/emv"
)

// stage is where a Session stands.
type stage int

const (
	stageStarted stage = iota
	stageOnline        // waiting for Complete
	stageDone
)

// txnState is one transaction's state.
type txnState struct {
	k     *Kernel
	cfg   *Config // the kernel's configuration when the transaction started
	ctx   context.Context
	card  apdu.Transceiver
	sink  traceSink // the card when it is a *Recorder
	iface Interface
	txn   Txn
	ui    UI
	log   *slog.Logger
	rand  io.Reader
	date  time.Time

	// over holds terminal values that replace the kernel's own (replay).
	over map[tag][]byte
	// term holds the terminal's data objects, icc the card's.
	term map[tag][]byte
	icc  map[tag][]byte

	cands  []candidate // candidate list (contact) or combinations (contactless)
	sel    *candidate  // the selected application
	aid    AIDParams   // its terminal parameters, overrides applied
	limits Limits
	kernel int // 0 contact; 2, 3, 7 contactless

	tvr TVR
	tsi TSI
	cvm CVMResult

	pdolData, cdol1Data, cdol2Data []byte
	// cardTVR is the TVR a quick kernel (3, 7) sent in the PDOL: the
	// card's cryptogram covers it, so the online data carries it while
	// the record keeps the terminal's own TVR.
	cardTVR   []byte
	static    []byte // static data to be authenticated
	staticBad bool   // a record read for ODA is not a 70 template
	issuerKey *cemv.IssuerPublicKey
	iccKey    *cemv.ICCPublicKey
	cda       bool // CDA selected and the keys recovered

	// contactless pre-processing of the selected combination
	clOnlineRequired, clCVMRequired bool

	cid      byte
	crypto   CryptogramType
	outcome  Outcome
	reason   Reason
	stage    stage
	scripts  []byte // 9F5B
	drawn    bool   // a random selection number was drawn
	hideNext bool   // the next command carries DOL data naming a sensitive object
}

// newState prepares a transaction; over may be nil.
func (k *Kernel) newState(ctx context.Context, card apdu.Transceiver, iface Interface, t Txn, ui UI, over map[tag][]byte) *txnState {
	if ui == nil {
		ui = nopUI{}
	}
	st := &txnState{k: k, cfg: k.cfg.Load(), ctx: ctx, card: card, iface: iface, txn: t, ui: ui, log: k.log, rand: k.rand,
		over: over, term: map[tag][]byte{}, icc: map[tag][]byte{}}
	if s, ok := card.(traceSink); ok {
		st.sink = s
	}
	return st
}

// nopUI is the UI of a caller that gave none: it takes the first
// candidate, shows nothing and bypasses PIN entry.
type nopUI struct{}

func (nopUI) Select(context.Context, []Candidate) (int, error) { return 0, nil }
func (nopUI) Message(context.Context, Message)                 {}
func (nopUI) OfflinePIN(context.Context, OfflinePINRequest) ([]byte, error) {
	return nil, ErrPINBypass
}

// setTerm stores a terminal data object, unless a replay override gives
// it (then the override wins).
func (st *txnState) setTerm(t tag, v []byte) {
	if o, ok := st.over[t]; ok {
		v = o
	}
	st.term[t] = v
}

// initTerminal fills the terminal data that does not depend on the
// application.
func (st *txnState) initTerminal() error {
	cfg := st.cfg
	t := &st.txn
	if t.Currency == "" {
		t.Currency = cfg.Terminal.DefaultCurrency
	}
	exp, ok := cfg.Terminal.Currencies[t.Currency]
	if !ok {
		return fmt.Errorf("%w: currency %q not accepted", ErrParams, t.Currency)
	}
	if t.Amount < 0 || t.Amount > 999999999999 || t.OtherAmount < 0 || t.OtherAmount > 999999999999 {
		return fmt.Errorf("%w: amount out of range", ErrParams)
	}
	st.date = t.Date
	if st.date.IsZero() {
		st.date = st.k.clock.Now()
	}
	d := st.date
	st.setTerm(0x9F02, bcd(uint64(t.Amount), 6))
	st.setTerm(0x9F03, bcd(uint64(t.OtherAmount), 6))
	st.setTerm(0x81, be32(uint64(t.Amount)))
	st.setTerm(0x9F04, be32(uint64(t.OtherAmount)))
	st.setTerm(0x5F2A, bcdString(t.Currency, 2))
	st.setTerm(0x5F36, []byte{byte(exp)})
	st.setTerm(0x9A, []byte{bcdByte(d.Year() % 100), bcdByte(int(d.Month())), bcdByte(d.Day())})
	st.setTerm(0x9F21, []byte{bcdByte(d.Hour()), bcdByte(d.Minute()), bcdByte(d.Second())})
	st.setTerm(0x9C, []byte{t.Type})
	st.setTerm(0x9F1A, bcdString(cfg.Terminal.Country, 2))
	st.setTerm(0x9F33, cfg.Terminal.Capabilities[:])
	st.setTerm(0x9F40, cfg.Terminal.AdditionalCapabilities[:])
	st.setTerm(0x9F35, []byte{cfg.Terminal.Type})
	st.setTerm(0x9F41, bcd(uint64(t.SequenceCounter), 4))
	entry := byte(0x05)
	if st.iface == Contactless {
		entry = 0x07
	}
	st.setTerm(0x9F39, []byte{entry})
	for _, f := range []struct {
		t tag
		v string
	}{{0x9F1E, cfg.Terminal.IFDSerial}, {0x9F1C, cfg.Terminal.TerminalID}, {0x9F16, cfg.Terminal.MerchantID}, {0x9F4E, cfg.Terminal.MerchantName}} {
		if f.v != "" {
			st.setTerm(f.t, []byte(f.v))
		}
	}
	if cfg.Terminal.MerchantCategory != "" {
		st.setTerm(0x9F15, bcdString(cfg.Terminal.MerchantCategory, 2))
	}
	if cfg.Terminal.AcquirerID != "" {
		st.setTerm(0x9F01, bcdString(cfg.Terminal.AcquirerID, 6))
	}
	flags := byte(0)
	if t.HostReachable {
		flags |= 0x01
	}
	if t.ForceOnline {
		flags |= 0x02
	}
	st.setTerm(tagTxnFlags, []byte{flags})
	un := make([]byte, 4)
	if _, ok := st.over[0x9F37]; !ok {
		if _, err := io.ReadFull(st.rand, un); err != nil {
			return fmt.Errorf("%w: random source: %v", ErrParams, err)
		}
	}
	st.setTerm(0x9F37, un)
	return nil
}

// useAID applies the selected AID's parameters, through the overrides.
func (st *txnState) useAID(a *AIDParams) {
	st.aid = *a
	st.setTerm(0x9F09, a.AppVersion[:])
	st.setTerm(0x9F06, a.AID)
	st.setTerm(0xDF8121, a.TACDenial[:])
	st.setTerm(0xDF8122, a.TACOnline[:])
	st.setTerm(0xDF8120, a.TACDefault[:])
	copy(st.aid.TACDenial[:], fixed(st.term[0xDF8121], 5))
	copy(st.aid.TACOnline[:], fixed(st.term[0xDF8122], 5))
	copy(st.aid.TACDefault[:], fixed(st.term[0xDF8120], 5))
	copy(st.aid.AppVersion[:], fixed(st.term[0x9F09], 2))
	l, _ := a.limits(st.txn.Currency)
	if st.iface == Contact {
		if l.FloorLimit >= 0 && l.FloorLimit <= 0xFFFFFFFF {
			st.setTerm(0x9F1B, be32(uint64(l.FloorLimit)))
			l.FloorLimit = int64(beUint(st.term[0x9F1B]))
		}
	} else {
		for _, f := range []struct {
			t tag
			v *int64
		}{{0xDF8123, &l.CLFloorLimit}, {0xDF8124, &l.CLTransactionLimit}, {0xDF8125, &l.CLTransactionLimitCDCVM}, {0xDF8126, &l.CLCVMLimit}} {
			if *f.v != NoLimit {
				st.setTerm(f.t, bcd(uint64(*f.v), 6))
			} else if o, ok := st.over[f.t]; ok {
				st.term[f.t] = o
			}
			if v, ok := st.term[f.t]; ok {
				if n, ok := bcdValue(v); ok {
					*f.v = n
				}
			}
		}
	}
	st.limits = l
}

// value is the DOL source: live terminal values, then the terminal's data
// objects, then the card's.
func (st *txnState) value(t tag) ([]byte, bool) {
	switch t {
	case 0x95:
		return st.tvr[:], true
	case 0x9B:
		return st.tsi[:], true
	case 0x9F34:
		return st.cvm.Results[:], true
	case 0x9F5B:
		return st.scripts, st.scripts != nil
	}
	if v, ok := st.term[t]; ok {
		return v, true
	}
	v, ok := st.icc[t]
	return v, ok
}

// dolData builds a DOL's data; when the DOL names a data object that is
// sensitive (or unknown), the command that carries it is logged as its
// header and length only. posd's own trace tags are unknown to the card's
// DOLs (zeros, book 3 section 5.4): a card's proprietary tag of the same
// number never receives them.
func (st *txnState) dolData(entries []dolEntry) []byte {
	for _, e := range entries {
		if sensitive(e.tag) {
			st.hideNext = true
		}
	}
	return buildDOL(entries, st.dolValue)
}

// dolValue is value for the DOLs: posd's internal tags are absent.
func (st *txnState) dolValue(t tag) ([]byte, bool) {
	if internalTag(t) {
		return nil, false
	}
	return st.value(t)
}

// aip returns the application interchange profile (zeros when absent).
func (st *txnState) aip() [2]byte {
	var a [2]byte
	copy(a[:], st.icc[0x82])
	return a
}

// caps returns the terminal capabilities in force.
func (st *txnState) caps() [3]byte {
	var c [3]byte
	copy(c[:], st.term[0x9F33])
	return c
}

// onlineCapable reports whether the terminal type is online capable
// (second digit 1, 2, 4 or 5) and the host is reachable.
func (st *txnState) onlineCapable() bool {
	tt := st.term[0x9F35]
	if len(tt) != 1 {
		return false
	}
	switch tt[0] & 0x0F {
	case 1, 2, 4, 5:
		return st.txn.HostReachable
	}
	return false
}

// finish sets the outcome of an ended run from its error.
func (st *txnState) finish(err error) error {
	if err != nil {
		if st.outcome == OutcomeNone || st.outcome == OutcomeSelectNext {
			st.outcome = OutcomeEndApplication
		}
		if st.reason == ReasonNone {
			st.reason = reasonOf(err)
		}
		st.stage = stageDone
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: end application", slog.String("reason", st.reason.String()), slog.String("error", err.Error()))
	} else if st.outcome == OutcomeOnlineRequest {
		st.stage = stageOnline
	} else {
		st.stage = stageDone
	}
	if st.sink != nil {
		st.sink.recordTerminal(st.term)
	}
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: outcome", slog.String("outcome", st.outcome.String()),
		slog.String("tvr", st.tvr.String()), slog.String("tsi", st.tsi.String()), slog.String("cryptogram", st.crypto.String()))
	return err
}

func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, ErrCardRemoved):
		return ReasonCardRemoved
	case errors.Is(err, ErrCardBlocked):
		return ReasonCardBlocked
	case errors.Is(err, ErrAppBlocked):
		return ReasonAppBlocked
	case errors.Is(err, ErrNoApplication):
		return ReasonNoApplication
	case errors.Is(err, ErrCancelled):
		return ReasonCancelled
	case errors.Is(err, ErrServiceNotAllowed):
		return ReasonServiceNotAllowed
	}
	return ReasonCardError
}

// cancelled wraps a UI error.
func cancelled(step string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCancelled, step, err)
}

// --- encodings ---

// bcd encodes n as n bytes of BCD, right justified.
func bcd(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v%10) | byte(v/10%10)<<4
		v /= 100
	}
	return b
}

func bcdByte(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }

// bcdString encodes a digit string as n bytes of BCD, right justified.
func bcdString(s string, n int) []byte {
	b := make([]byte, n)
	j := 2*n - 1
	for i := len(s) - 1; i >= 0 && j >= 0; i-- {
		d := s[i] - '0'
		if j%2 == 1 {
			b[j/2] |= d
		} else {
			b[j/2] |= d << 4
		}
		j--
	}
	return b
}

// bcdValue reads BCD; false when a nibble is not a digit.
func bcdValue(b []byte) (int64, bool) {
	var v int64
	for _, x := range b {
		hi, lo := x>>4, x&0x0F
		if hi > 9 || lo > 9 {
			return 0, false
		}
		v = v*100 + int64(hi)*10 + int64(lo)
	}
	return v, true
}

func be32(v uint64) []byte {
	if v > 0xFFFFFFFF {
		v = 0xFFFFFFFF
	}
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// fixed returns b when it is n bytes, else n zero bytes.
func fixed(b []byte, n int) []byte {
	if len(b) == n {
		return b
	}
	return make([]byte, n)
}
