package emv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"

	cemv "posd/crypto/emv"
)

// cvmOutcome is the result of one CVM attempt.
type cvmOutcome int

const (
	cvmSucceeded cvmOutcome = iota // CVM Results byte 3 = 02
	cvmUnknown                     // 00: signature, online PIN
	cvmFailedOne                   // 01
)

// verifyCardholder is cardholder verification (book 3 section 10.5): the
// CVM list's rules in order, each whose condition holds tried until one
// succeeds or a failing one says not to go on. capsByte2 is the CVM byte
// of the terminal capabilities in force. Only a transport failure or a
// cancelled UI is returned.
func (st *txnState) verifyCardholder() error {
	return st.cvmList(st.caps()[1])
}

func (st *txnState) cvmList(caps byte) error {
	st.cvm = CVMResult{Method: CVMNone, Results: [3]byte{0x3F, 0x00, 0x00}}
	if st.aip()[0]&0x10 == 0 {
		return nil
	}
	list := st.icc[0x8E]
	if len(list) < 10 || len(list)%2 != 0 {
		st.tvr.set(tvrICCDataMissing)
		return nil
	}
	st.tsi.set(tsiCVM)
	x, y := beUint(list[0:4]), beUint(list[4:8])
	tried := false
	for i := 8; i < len(list); i += 2 {
		code, cond := list[i], list[i+1]
		if !st.conditionHolds(cond, code, caps, x, y) {
			continue
		}
		tried = true
		method, out, err := st.performCVM(code, caps)
		if err != nil {
			return err
		}
		switch out {
		case cvmSucceeded, cvmUnknown:
			r := byte(0x02)
			if out == cvmUnknown {
				r = 0x00
			}
			st.cvm.Method, st.cvm.Results = method, [3]byte{code, cond, r}
			st.cvm.Signature = code&0x3F == 0x03 || code&0x3F == 0x05 || code&0x3F == 0x1E
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: CVM", slog.String("method", method.String()), slog.String("results", fmt.Sprintf("%X", st.cvm.Results[:])))
			return nil
		}
		st.cvm.Results = [3]byte{code, cond, 0x01}
		if code&0x40 == 0 {
			break
		}
	}
	if !tried {
		st.cvm.Results = [3]byte{0x3F, 0x00, 0x01}
	}
	st.cvm.Method = CVMFailed
	st.tvr.set(tvrCVMFailed)
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: CVM failed", slog.String("results", fmt.Sprintf("%X", st.cvm.Results[:])))
	return nil
}

// supports reports whether the terminal supports a CVM code (terminal
// capabilities byte 2).
func supports(code, caps byte) bool {
	switch code & 0x3F {
	case 0x00:
		return true
	case 0x01:
		return caps&0x80 != 0
	case 0x02:
		return caps&0x40 != 0
	case 0x03:
		return caps&0x80 != 0 && caps&0x20 != 0
	case 0x04:
		return caps&0x10 != 0
	case 0x05:
		return caps&0x10 != 0 && caps&0x20 != 0
	case 0x1E:
		return caps&0x20 != 0
	case 0x1F:
		return caps&0x08 != 0
	}
	return false
}

// conditionHolds evaluates a CVM condition code (book 3 annex C3).
func (st *txnState) conditionHolds(cond, code, caps byte, x, y uint64) bool {
	t := st.txn.Type
	tt := byte(0)
	if v := st.term[0x9F35]; len(v) == 1 {
		tt = v[0] & 0x0F
	}
	unattended := tt >= 4 && tt <= 6
	cash := t == TypeCash
	cashback := t == TypeCashback || st.txn.OtherAmount > 0
	inAppCurrency := bytes.Equal(st.icc[0x9F42], st.term[0x5F2A])
	amount := uint64(st.txn.Amount)
	switch cond {
	case 0x00:
		return true
	case 0x01:
		return unattended && cash
	case 0x02:
		return !cash && !cashback
	case 0x03:
		return supports(code, caps)
	case 0x04:
		return !unattended && cash
	case 0x05:
		return cashback
	case 0x06:
		return inAppCurrency && amount < x
	case 0x07:
		return inAppCurrency && amount > x
	case 0x08:
		return inAppCurrency && amount < y
	case 0x09:
		return inAppCurrency && amount > y
	}
	return false
}

// performCVM tries one CVM.
func (st *txnState) performCVM(code, caps byte) (CVMMethod, cvmOutcome, error) {
	m := code & 0x3F
	switch m {
	case 0x00:
		return CVMFailed, cvmFailedOne, nil
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x1E, 0x1F:
	default:
		st.tvr.set(tvrUnrecognisedCVM)
		return CVMFailed, cvmFailedOne, nil
	}
	if !supports(code, caps) {
		if m != 0x1E && m != 0x1F {
			st.tvr.set(tvrNoPINPad)
		}
		return CVMFailed, cvmFailedOne, nil
	}
	switch m {
	case 0x1F:
		return CVMNone, cvmSucceeded, nil
	case 0x1E:
		return CVMSignature, cvmUnknown, nil
	case 0x02:
		return st.onlinePIN()
	}
	enc := m == 0x04 || m == 0x05
	method := CVMOfflinePlainPIN
	if enc {
		method = CVMOfflineEncPIN
	}
	out, err := st.offlinePIN(enc)
	if err != nil {
		return CVMFailed, cvmFailedOne, err
	}
	if out == cvmSucceeded && (m == 0x03 || m == 0x05) {
		out = cvmUnknown // a signature is still to come
	}
	if out == cvmFailedOne {
		method = CVMFailed
	}
	return method, out, nil
}

// onlinePIN selects enciphered online PIN, asking the caller's PIN pad
// when the UI captures it during the kernel run.
func (st *txnState) onlinePIN() (CVMMethod, cvmOutcome, error) {
	if p, ok := st.ui.(OnlinePINEntry); ok {
		err := p.OnlinePIN(st.ctx)
		if errors.Is(err, ErrPINBypass) {
			st.tvr.set(tvrPINNotEntered)
			return CVMFailed, cvmFailedOne, nil
		}
		if err != nil {
			return CVMFailed, cvmFailedOne, cancelled("online PIN", err)
		}
	}
	st.tvr.set(tvrOnlinePINEntered)
	return CVMOnlinePIN, cvmUnknown, nil
}

// offlinePIN runs offline PIN verification with the card's PIN try
// counter: plaintext (VERIFY P2 80) or enciphered under the ICC PIN
// encipherment key or the ICC key (GET CHALLENGE, then VERIFY P2 88).
func (st *txnState) offlinePIN(enc bool) (cvmOutcome, error) {
	tries := -1
	if ptc, err := st.getData(0x9F17, 1); err == nil {
		tries = int(ptc[0])
		if tries == 0 {
			st.tvr.set(tvrPINTryLimit)
			st.ui.Message(st.ctx, MsgPINBlocked)
			return cvmFailedOne, nil
		}
	} else if errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrCancelled) {
		return cvmFailedOne, err
	}
	var key *cemv.PublicKey
	if enc {
		k, err := st.pinKey()
		if err != nil {
			if errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrCancelled) {
				return cvmFailedOne, err
			}
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: no PIN encipherment key", slog.String("error", err.Error()))
			return cvmFailedOne, nil
		}
		key = k
	}
	for {
		block, err := st.ui.OfflinePIN(st.ctx, OfflinePINRequest{TriesLeft: tries, LastTry: tries == 1, Enciphered: enc})
		if errors.Is(err, ErrPINBypass) {
			wipe(block)
			st.tvr.set(tvrPINNotEntered)
			return cvmFailedOne, nil
		}
		if err != nil {
			wipe(block)
			return cvmFailedOne, cancelled("offline PIN", err)
		}
		if !validPINBlock(block) {
			wipe(block)
			st.tvr.set(tvrNoPINPad)
			return cvmFailedOne, nil
		}
		sw, err := st.verify(block, key)
		wipe(block)
		if errors.Is(err, errNoVerify) {
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: PIN not enciphered", slog.String("error", err.Error()))
			return cvmFailedOne, nil
		}
		if err != nil {
			return cvmFailedOne, err
		}
		switch {
		case sw == 0x9000:
			st.ui.Message(st.ctx, MsgPINOK)
			return cvmSucceeded, nil
		case sw&0xFFF0 == 0x63C0 && sw&0x0F > 0:
			tries = int(sw & 0x0F)
			st.ui.Message(st.ctx, MsgIncorrectPIN)
			continue
		case sw == 0x63C0 || sw == 0x6983 || sw == 0x6984:
			st.tvr.set(tvrPINTryLimit)
			st.ui.Message(st.ctx, MsgPINBlocked)
			return cvmFailedOne, nil
		}
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: VERIFY refused", slog.String("sw", fmt.Sprintf("%04X", sw)))
		return cvmFailedOne, nil
	}
}

// errNoVerify is returned inside the kernel when an enciphered PIN
// could not be built (GET CHALLENGE refused or not 8 bytes, the key
// unusable): no VERIFY was sent, so the PIN is not verified and the
// status of another command must not be read as VERIFY's.
var errNoVerify = errors.New("emv: no VERIFY sent")

// verify sends VERIFY with the plaintext block, or enciphered for the
// card: 7F, the PIN block, the card's 8-byte challenge and random
// padding to the key's length, RSA under key (book 2 section 7.2).
func (st *txnState) verify(block []byte, key *cemv.PublicKey) (uint16, error) {
	if key == nil {
		c, err := command(0x00, 0x20, 0x00, 0x80, block, case3)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errNoVerify, err)
		}
		defer wipe(c)
		_, sw, err := st.exchange("VERIFY", c)
		return sw, err
	}
	chal, sw, err := st.send("GET CHALLENGE", 0x00, 0x84, 0x00, 0x00, nil, case2)
	if err != nil {
		return 0, err
	}
	if sw != 0x9000 || len(chal) != 8 {
		return 0, fmt.Errorf("%w: GET CHALLENGE answered %04X with %d bytes", errNoVerify, sw, len(chal))
	}
	n := len(key.Modulus)
	msg := make([]byte, n)
	defer wipe(msg)
	msg[0] = 0x7F
	copy(msg[1:9], block)
	copy(msg[9:17], chal)
	if _, err := io.ReadFull(st.rand, msg[17:]); err != nil {
		return 0, fmt.Errorf("%w: random source: %v", ErrCancelled, err)
	}
	enc, err := key.Recover(msg)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoVerify, err)
	}
	c, err := command(0x00, 0x20, 0x00, 0x88, enc, case3)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoVerify, err)
	}
	_, sw, err = st.exchange("VERIFY", c)
	return sw, err
}

// pinKey recovers the ICC PIN encipherment public key (9F2D, whose
// certificate signs no static data), else the ICC public key; either
// certificate is checked as book 2 section 6.4 says (PAN, expiry).
func (st *txnState) pinKey() (*cemv.PublicKey, error) {
	ipk, err := st.recoverIssuer()
	if err != nil {
		return nil, err
	}
	if cert := st.icc[0x9F2D]; cert != nil {
		k, err := cemv.RecoverICCPublicKey(ipk.PublicKey, cert, st.icc[0x9F2F], st.icc[0x9F2E], nil)
		if err != nil {
			return nil, err
		}
		if !k.MatchesPAN(st.pan()) {
			return nil, fmt.Errorf("%w: PIN key certificate PAN differs", errODA)
		}
		if expired, err := k.Expiry.ExpiredOn(st.term[0x9A]); err != nil || expired {
			return nil, fmt.Errorf("%w: PIN key certificate expired or its date invalid", errODA)
		}
		return &k.PublicKey, nil
	}
	static, err := st.staticData()
	if err != nil {
		return nil, err
	}
	k, err := st.recoverICC(ipk, static)
	if err != nil {
		return nil, err
	}
	return &k.PublicKey, nil
}

// validPINBlock checks a format 2 plaintext PIN block: 2N, 4 to 12 digits,
// F padding.
func validPINBlock(b []byte) bool {
	if len(b) != 8 || b[0]>>4 != 0x2 {
		return false
	}
	n := int(b[0] & 0x0F)
	if n < 4 || n > 12 {
		return false
	}
	for i := 0; i < 14; i++ {
		v := b[1+i/2] >> 4
		if i%2 == 1 {
			v = b[1+i/2] & 0x0F
		}
		if i < n && v > 9 || i >= n && v != 0x0F {
			return false
		}
	}
	return true
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
