package acquirer

import (
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/terminal/host"
	"posd/terminal/paycode"
)

// The issuer remembers the last QRATCMemory ATCs of each card's QR
// cryptograms: an older one is forgotten, another card's or another PSN's
// same ATC is not a replay.
func TestQRATCMemory(t *testing.T) {
	s := &Server{qrATCs: map[[32]byte]*atcRing{}}
	atc := func(n int) []byte { return []byte{byte(n >> 8), byte(n)} }
	const pan = "4761730000000011"
	for n := 1; n <= QRATCMemory; n++ {
		if !s.firstQRUse(pan, "01", atc(n)) {
			t.Fatalf("ATC %d refused the first time", n)
		}
	}
	for _, n := range []int{1, QRATCMemory / 2, QRATCMemory} {
		if s.firstQRUse(pan, "01", atc(n)) {
			t.Fatalf("ATC %d accepted twice", n)
		}
	}
	if !s.firstQRUse("5413330000000019", "01", atc(1)) || !s.firstQRUse(pan, "02", atc(1)) {
		t.Fatal("another card's ATC taken for a replay")
	}
	// One more: the oldest (1) is forgotten, the others are not.
	if !s.firstQRUse(pan, "01", atc(QRATCMemory+1)) {
		t.Fatal("new ATC refused")
	}
	if !s.firstQRUse(pan, "01", atc(1)) {
		t.Fatal("the oldest ATC still remembered")
	}
	if s.firstQRUse(pan, "01", atc(3)) {
		t.Fatal("a recent ATC forgotten")
	}
	if r := s.qrATCs[qrKey(pan, "01")]; len(r.seen) != QRATCMemory || len(r.order) != QRATCMemory {
		t.Fatalf("remembers %d ATCs", len(r.seen))
	}
}

// A void or completion resending its original QR payment's DE55 is
// checked (the cryptogram verifies) but does not use up the ATC, and is
// not refused as a replay.
func TestQRFollowUpIsNoReplay(t *testing.T) {
	s := &Server{qrATCs: map[[32]byte]*atcRing{}, issuers: deck.Issuers, cards: deck.ByPAN}
	code, err := deck.CPM("visa-credit", 9, [4]byte{1, 2, 3, 4}, time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	cpm, err := paycode.ParseCPM(code)
	if err != nil {
		t.Fatal(err)
	}
	card, _ := deck.Lookup("visa-credit")
	for i, kind := range []host.Kind{host.KindPurchase, host.KindVoid, host.KindCompletion, host.KindPurchase} {
		req := host.Request{Kind: kind, Amount: 1234, Currency: "156", EntryMode: "031", ICC: cpm.ICC()}
		var in Entry
		rc, c := s.issue(nil, req, card.PAN, &in)
		c.wipe()
		want := ""
		if i == 3 {
			want = RCCardAuthFailed
		}
		if rc != want || in.ARQCOK == nil || *in.ARQCOK != (want == "") {
			t.Fatalf("#%d %s: %q, journal %+v", i, kind, rc, in)
		}
	}
}
