package facepay_test

import (
	"context"
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
