package facepay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"posd/cmd/acquirer-sim/facepay"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// A KSN no DUKPT device enciphers under — an initial KSN (counter zero),
// a counter with more one-bits than the mode allows — is a bad request:
// it is no password attempt, so it spends neither the session nor one of
// the account's tries.
func TestConfirmNotATransactionKSN(t *testing.T) {
	for _, tc := range []struct {
		mode wiresec.Mode
		ksns [][]byte
	}{
		{wiresec.ModeAES, [][]byte{
			{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0},          // counter zero
			{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0x01, 0xFF, 0xFF}, // 17 one-bits
			{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0xFF},
		}},
		{wiresec.ModeTDES, [][]byte{
			{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x00, 0x00}, // counter zero
			{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xE0, 0x07, 0xFF}, // 11 one-bits
			{0xFF, 0xFF, 0x98, 0x76, 0x54, 0x32, 0x10, 0xFF, 0xFF, 0xFF},
		}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			r := newRig(t, tc.mode)
			c, err := r.identify("alice", "K1", 8800)
			if err != nil {
				t.Fatal(err)
			}
			for _, ksn := range tc.ksns {
				_, err := r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c.Session, OrderID: "K1", Amount: 8800,
					Currency: "156", PINBlock: make([]byte, tc.mode.PINBlockLen()), KSN: ksn})
				if rejectedCode(t, err) != fp.CodeBadRequest {
					t.Fatalf("KSN % X: %v", ksn, err)
				}
			}
			// The session is still open, and alice has every try.
			if res, err := r.confirm(c, "K1", facepay.Password("alice")); err != nil || res.Status != fp.StatusApproved {
				t.Fatalf("confirm after the refused KSNs: %+v %v", res, err)
			}
			if tot := r.p.Totals(); tot.WrongPassword != 0 || tot.Approved != 1 {
				t.Fatalf("totals %+v", tot)
			}
			checkJournal(t, r.journal.Bytes())
		})
	}
}

// nextKey is the rig's next DUKPT KSN and transaction key, to encipher a
// password with later (blockUnder), out of the order they were drawn.
func (r *rig) nextKey() (ksn, key []byte) {
	r.t.Helper()
	ksn, key, err := r.orig.Next()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { clear(key) })
	return ksn, key
}

// spendKSNs sends n confirms, each under the rig's next KSN, naming a
// session the platform never opened: each is refused no_session, and
// each spends its KSN.
func (r *rig) spendKSNs(n int) {
	r.t.Helper()
	for i := range n {
		ksn, _ := r.nextKey()
		_, err := r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: fmt.Sprintf("FSNONE%d", i), OrderID: "Q1", Amount: 100,
			Currency: "156", PINBlock: make([]byte, r.mode.PINBlockLen()), KSN: ksn})
		if rejectedCode(r.t, err) != fp.CodeNoSession {
			r.t.Fatalf("confirm %d of no session: %v", i, err)
		}
	}
}

// A long-running platform's memory of the KSNs it has had is bounded:
// after a thousand confirms of one terminal (one DUKPT device) it holds
// at most the replay window's counters, not one entry a confirm.
func TestSpentKSNMemoryBounded(t *testing.T) {
	for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			r := newRig(t, mode)
			const n = 1000
			r.spendKSNs(n)
			if got := r.p.SpentKSNs(r.tid); got > facepay.KSNWindow {
				t.Fatalf("after %d confirms the platform remembers %d KSNs of the terminal; the bound is %d", n, got, facepay.KSNWindow)
			}
		})
	}
}

// blockUnder enciphers password as the terminal does, under the DUKPT
// transaction key of ksn, bound to the session, order and amount.
func (r *rig) blockUnder(ksn, key []byte, session, order string, amount int64, password string) []byte {
	r.t.Helper()
	s, err := wiresec.ForTerminal(r.mode, ksn, key)
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Wipe()
	block, err := s.EncryptPINDigits([]byte(password), fp.PasswordBinding(r.tid, session, order, amount, "156"))
	if err != nil {
		r.t.Fatal(err)
	}
	return block
}

// saleUnder is a sale of alice's: identify, then confirm with her
// password enciphered under ksn.
func (r *rig) saleUnder(order string, ksn, key []byte) (fp.Result, error) {
	r.t.Helper()
	c, err := r.identify("alice", order, 8800)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.c.Confirm(context.Background(), fp.ConfirmRequest{Session: c.Session, OrderID: order, Amount: 8800, Currency: "156",
		PINBlock: r.blockUnder(ksn, key, c.Session, order, 8800, facepay.Password("alice")), KSN: ksn})
}

// refusedKSN checks err is the ksn_reused refusal, with reason.
func refusedKSN(t *testing.T, err error, reason string) {
	t.Helper()
	var re *fp.RejectedError
	if !errors.As(err, &re) || re.Code != fp.CodeKSNReused || re.Reason != reason || !errors.Is(err, fp.ErrRejected) {
		t.Fatalf("want ksn_reused (%s), got %v", reason, err)
	}
}

// The window refuses every KSN spent before and every one too far
// behind, and takes a KSN within it once, in whatever order they come.
func TestKSNReplayWindow(t *testing.T) {
	for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
		t.Run(string(mode), func(t *testing.T) {
			r := newRig(t, mode)
			k1, key1 := r.nextKey()
			k2, key2 := r.nextKey()
			// k2 before k1: out of order within the window, each once.
			for i, k := range [][2][]byte{{k2, key2}, {k1, key1}} {
				if res, err := r.saleUnder(fmt.Sprintf("W%d", i), k[0], k[1]); err != nil || res.Status != fp.StatusApproved {
					t.Fatalf("KSN % X: %+v %v", k[0], res, err)
				}
			}
			// Either again, with a genuine PIN block for a new session:
			// refused, whatever the order.
			for i, k := range [][2][]byte{{k1, key1}, {k2, key2}} {
				_, err := r.saleUnder(fmt.Sprintf("WR%d", i), k[0], k[1])
				refusedKSN(t, err, "KSN already used")
			}
			// k3 never spent, then KSNWindow counters after it: k4 is
			// the oldest counter the window still tells apart, k3 is
			// one older.
			k3, key3 := r.nextKey()
			k4, key4 := r.nextKey()
			r.spendKSNs(facepay.KSNWindow - 1)
			_, err := r.saleUnder("WO1", k3, key3)
			refusedKSN(t, err, "KSN older than the replay window")
			if res, err := r.saleUnder("WO2", k4, key4); err != nil || res.Status != fp.StatusApproved {
				t.Fatalf("the oldest KSN in the window: %+v %v", res, err)
			}
			_, err = r.saleUnder("WO3", k4, key4)
			refusedKSN(t, err, "KSN already used")
			if tot := r.p.Totals(); tot.Approved != 3 || tot.KSNReused != 4 || tot.KSNTooOld != 1 || tot.WrongPassword != 0 {
				t.Fatalf("totals %+v", tot)
			}
			j := string(r.journal.Bytes())
			if strings.Count(j, `"reason":"KSN already used"`) != 3 || strings.Count(j, `"reason":"KSN older than the replay window"`) != 1 {
				t.Fatalf("journal:\n%s", j)
			}
			checkJournal(t, r.journal.Bytes())
		})
	}
}

// A terminal has windows for at most KSNDevices devices, however many
// initial KSNs its confirms name; another terminal's are its own.
func TestKSNDevicesBounded(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	confirm := func(c *fp.HTTPClient, device int) {
		t.Helper()
		ksn := []byte{0xA0, 0, 0, 0, 0, 0, byte(device >> 8), byte(device), 0, 0, 0, 1}
		_, err := c.Confirm(context.Background(), fp.ConfirmRequest{Session: "FSNONE", OrderID: "Q1", Amount: 100, Currency: "156",
			PINBlock: make([]byte, 16), KSN: ksn})
		if rejectedCode(t, err) != fp.CodeNoSession {
			t.Fatalf("device %d: %v", device, err)
		}
	}
	for d := range 10 * facepay.KSNDevices {
		confirm(r.c, d)
	}
	other := r.client("T0000010")
	confirm(other, 0)
	if n, m := r.p.KSNDeviceWindows(r.tid), r.p.KSNDeviceWindows("T0000010"); n != facepay.KSNDevices || m != 1 {
		t.Fatalf("windows: %d of the terminal, %d of the other", n, m)
	}
	if n := r.p.SpentKSNs(r.tid); n != facepay.KSNDevices {
		t.Fatalf("%d KSNs spent in the windows", n)
	}
}
