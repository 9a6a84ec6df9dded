package kdh

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"posd/terminal/wiresec"
)

// TestInitialKSNsUnique: every delivery gets an initial KSN the KDH never
// issued before. Under one BDK the initial key follows from the initial
// KSN, so two terminals given the same one would share every DUKPT key
// (and a terminal given one it used before refuses it). TDES has 19 bits
// of device ID: random draws alone repeat one within a few thousand
// deliveries.
func TestInitialKSNsUnique(t *testing.T) {
	for _, mode := range []wiresec.Mode{wiresec.ModeTDES, wiresec.ModeAES} {
		t.Run(string(mode), func(t *testing.T) {
			s, err := New(Opts{Rand: rand.NewChaCha8([32]byte{7})})
			if err != nil {
				t.Fatal(err)
			}
			kbpk := make([]byte, 32)
			kbpk[0] = 1
			seen := map[string]int{}
			for i := range 3000 {
				_, iksn, _, err := s.ikBlock(kbpk, mode)
				if err != nil {
					t.Fatal(err)
				}
				if j, dup := seen[iksn]; dup {
					t.Fatalf("delivery %d got the initial KSN %s of delivery %d", i, iksn, j)
				}
				seen[iksn] = i
			}
		})
	}
}

// TestInitialKSNsUniqueAcrossRestarts: the initial KSNs an earlier run's
// journal records as delivered are not issued again, even when the
// random source draws them.
func TestInitialKSNsUniqueAcrossRestarts(t *testing.T) {
	kbpk := make([]byte, 32)
	kbpk[0] = 1
	first, err := New(Opts{Rand: rand.NewChaCha8([32]byte{9})})
	if err != nil {
		t.Fatal(err)
	}
	_, iksn, _, err := first.ikBlock(kbpk, wiresec.ModeTDES)
	if err != nil {
		t.Fatal(err)
	}
	journal := `{"op":"certify","outcome":"certified","status":200}
not json
{"op":"keys","outcome":"refused","status":403,"iksn":"FFFF9876540000000000"}
{"op":"keys","outcome":"delivered","status":200,"iksn":"` + strings.ToLower(iksn) + `"}
`
	issued, err := IssuedFromJournal(strings.NewReader(journal))
	if err != nil || len(issued) != 1 {
		t.Fatalf("issued %v, %v", issued, err)
	}
	again, err := New(Opts{Rand: rand.NewChaCha8([32]byte{9}), Issued: issued})
	if err != nil {
		t.Fatal(err)
	}
	_, next, _, err := again.ikBlock(kbpk, wiresec.ModeTDES)
	if err != nil || next == iksn {
		t.Fatalf("after a restart: initial KSN %s (the last run issued %s), %v", next, iksn, err)
	}
}

// A keys request is one JSON object and nothing after it.
func TestKeysRequestTrailingData(t *testing.T) {
	for _, tail := range []string{"}", "]", " {}"} {
		body := `{"terminal_id":"T1","device_chain":["MAA="],"random_token":"MAA=","dukpt":"aes"}` + tail
		if _, _, _, err := parseKeysRequest([]byte(body)); !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "after") {
			t.Errorf("request followed by %q: %v", tail, err)
		}
	}
}
