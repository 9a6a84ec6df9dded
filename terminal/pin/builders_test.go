package pin

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"posd/crypto/dukpt"
	"posd/crypto/pinblock"
	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

// Published test keys of ANSI X9.24 (never production keys).
var (
	aesBDK   = testhex.Must("FEDCBA9876543210F1F1F1F1F1F1F1F1")
	aesIKSN  = testhex.Must("123456789012345600000000")
	tdesBDK  = testhex.Must("0123456789ABCDEFFEDCBA9876543210")
	tdesIKSN = testhex.Must("FFFF9876543210E00000")
)

const testPAN = "4761739001010010"

// terminalSession is the terminal's session for the mode's first KSN, from
// a DUKPT originator loaded with the initial key of the test BDK; the host
// derives its own from the BDK.
func terminalSession(t *testing.T, mode wiresec.Mode) (*wiresec.Session, []byte) {
	t.Helper()
	var (
		o   dukpt.Originator
		ik  []byte
		err error
	)
	switch mode {
	case wiresec.ModeAES:
		if ik, err = dukpt.AESDeriveIK(aesBDK, aesIKSN); err == nil {
			o, err = dukpt.NewAESOriginator(ik, aesIKSN)
		}
	default:
		if ik, err = dukpt.TDESDeriveIK(tdesBDK, tdesIKSN); err == nil {
			o, err = dukpt.NewTDESOriginator(ik, tdesIKSN)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	ksn, key, err := o.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(mode, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	return s, ksn
}

// Typed on the keypad, through OnlinePIN: the acquirer opens the PIN
// block of the mode with the BDK and the KSN and finds the typed PIN.
func TestOnlinePINOpensAtTheHost(t *testing.T) {
	for _, c := range []struct {
		mode  wiresec.Mode
		bdk   []byte
		size  int
		keys  string
		pin   string
		steps []Progress
	}{
		{wiresec.ModeTDES, tdesBDK, 8, "1234E", "1234",
			[]Progress{digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone)}},
		{wiresec.ModeAES, aesBDK, 16, "9C80215E", "80215",
			[]Progress{digits(1, StateDigit), digits(0, StateCleared), digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit),
				digits(4, StateDigit), digits(5, StateDigit), digits(5, StateDone)}},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			sess, ksn := terminalSession(t, c.mode)
			r := start(t, Opts{}, "", OnlinePIN(sess, testPAN))
			r.keys.typ(c.keys)
			r.expect(c.steps...)
			o := r.end()
			if o.err != nil || len(o.out) != c.size {
				t.Fatalf("PIN block of %d bytes, %v", len(o.out), o.err)
			}
			host, err := wiresec.ForHost(c.mode, c.bdk, ksn)
			if err != nil {
				t.Fatal(err)
			}
			got, err := host.DecryptPIN(o.out, testPAN)
			if err != nil || got != c.pin {
				t.Fatalf("host: PIN as typed %v, %v", got == c.pin, err)
			}
			// The block is bound to the PAN.
			if got, err := host.DecryptPIN(o.out, "5413330089010434"); err == nil && got == c.pin {
				t.Fatal("the block opens with another PAN")
			}
		})
	}
}

// A builder that fails (a wiped session, a PAN it refuses) fails the
// entry with ErrBuild, the digits wiped.
func TestOnlinePINErrors(t *testing.T) {
	sess, _ := terminalSession(t, wiresec.ModeTDES)
	for _, c := range []struct {
		build Builder
		want  error
	}{
		{OnlinePIN(sess, "12x4"), pinblock.ErrPAN},
		{OnlinePIN(nil, testPAN), wiresec.ErrWiped},
	} {
		r := start(t, Opts{}, "", c.build)
		r.keys.typ("1234E")
		r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(0, StateFailed))
		o := r.end()
		if !errors.Is(o.err, ErrBuild) || !errors.Is(o.err, c.want) {
			t.Errorf("got %v, want %v", o.err, c.want)
		}
	}
}

// The EMV VERIFY block for offline plaintext PIN: ISO 9564 format 2.
func TestOfflinePlaintextPIN(t *testing.T) {
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKeys()
	out, err := e.Read(context.Background(), k, func(p Progress) {
		if p.State == StateStart {
			k.typ("24680E")
		}
	}, OfflinePlaintextPIN())
	if err != nil || !bytes.Equal(out, testhex.Bytes(t, "2524680FFFFFFFFF")) {
		t.Fatalf("VERIFY block %X, %v", out, err)
	}
}
