package acquirer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/bertlv"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/internal/testhex"
	"posd/terminal/host"
	"posd/terminal/paycode"
	"posd/terminal/wiresec"
)

var (
	qrUN   = [4]byte{0x5E, 0x6F, 0x70, 0x81}
	qrDate = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
)

// qrCode is the payload the phone shows for the deck card name at atc.
func qrCode(t *testing.T, name string, atc uint16) string {
	t.Helper()
	s, err := deck.CPM(name, atc, qrUN, qrDate)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// retag changes DE55 values (tag → value) keeping the order of the data
// objects.
func retag(t *testing.T, icc []byte, tweak func(v map[string][]byte)) []byte {
	t.Helper()
	tlvs, err := bertlv.Decode(icc)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string][]byte{}
	for _, x := range tlvs {
		v[x.Tag] = bytes.Clone(x.Value)
	}
	tweak(v)
	var out []bertlv.TLV
	for _, x := range tlvs {
		if b, ok := v[x.Tag]; ok {
			out = append(out, bertlv.NewTag(x.Tag, b))
		}
	}
	b, err := bertlv.Encode(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// qrPurchase is the 0200 a terminal sends for a scanned consumer code:
// DE22 031, the code's track 2 equivalent data (tag 57 as hex digits) as
// the track, its cryptogram data (CPM.ICC) in DE55, changed by tweak when
// not nil.
func qrPurchase(t *testing.T, stan uint32, amount int64, code string, tweak func(map[string][]byte)) host.Purchase {
	t.Helper()
	cpm, err := paycode.ParseCPM(code)
	if err != nil {
		t.Fatal(err)
	}
	defer cpm.Wipe()
	icc := cpm.ICC()
	if tweak != nil {
		icc = retag(t, icc, tweak)
	}
	return host.Purchase{
		STAN: stan, Amount: amount, Currency: "156", EntryMode: "031", ICC: icc,
		Track2: []byte(strings.ToUpper(hex.EncodeToString(cpm.Track2()))),
		Time:   time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
	}
}

// TestQRPayment: the deck's codes are approved through the normal online
// authorisation of each scheme's issuer, in both dialects; a code whose
// cryptogram does not verify, one whose 9F02 is neither zero nor DE4 and
// one shown again are declined (Q1), the others still approved.
func TestQRPayment(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			// One issuer for the three cards: the ATCs are remembered per card.
			r := startServer(t, d, wiresec.ModeAES, nil)
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			ctx := context.Background()
			stan := uint32(0)
			send := func(p host.Purchase) (host.Result, acquirer.Entry) {
				t.Helper()
				stan++
				p.STAN = stan
				res, err := c.Purchase(ctx, p, tm.session(t))
				if err != nil {
					t.Fatalf("STAN %d: %v", stan, err)
				}
				return res, journalIn(t, r, stan)
			}
			declined := func(what string, res host.Result, e acquirer.Entry, why string) {
				t.Helper()
				if res.ResponseCode != acquirer.RCCardAuthFailed || res.ICC != nil || res.AuthCode != "" {
					t.Fatalf("%s: answered %+v", what, res)
				}
				if e.ARQCOK == nil || *e.ARQCOK || !strings.Contains(e.Note, why) {
					t.Fatalf("%s: journal %+v", what, e)
				}
			}
			var cards []deck.Card
			for _, name := range []string{"visa-credit", acquirer.DefaultScriptCard, "unionpay-ic-debit"} {
				card, _ := deck.Lookup(name)
				cards = append(cards, card)
				iss := deck.Issuers[card.Scheme]

				// Approved; the answer carries the ARPC of the chip
				// (harmless: the terminal has no card to give it to), never
				// the issuer script, even for the script card.
				code := qrCode(t, name, 1)
				res, e := send(qrPurchase(t, 0, 1234, code, nil))
				if res.ResponseCode != "00" || res.AuthCode == "" {
					t.Fatalf("%s: answered %+v (journal %+v)", name, res, e)
				}
				if e.ARQCOK == nil || !*e.ARQCOK || e.Scheme != card.Scheme || e.MaskedPAN == "" || e.Note != "" {
					t.Fatalf("%s: journal %+v", name, e)
				}
				cpm, err := paycode.ParseCPM(code)
				if err != nil {
					t.Fatal(err)
				}
				v := map[string][]byte{}
				tlvs, _ := bertlv.Decode(cpm.ICC())
				for _, x := range tlvs {
					v[x.Tag] = x.Value
				}
				mk, err := iss.ICCMasterKey(card.PAN, card.PSN)
				if err != nil {
					t.Fatal(err)
				}
				sk, err := iss.SessionKey(mk, v["9F36"], v["9F37"])
				if err != nil {
					t.Fatal(err)
				}
				if want := wantARPC(t, iss, mk, sk, v["9F26"], "00"); !bytes.Equal(res.Issuer.AuthData, want) {
					t.Fatalf("%s: 91 is %X, want %X", name, res.Issuer.AuthData, want)
				}
				if len(res.Issuer.Scripts) != 0 {
					t.Fatalf("%s: issuer script for a QR payment", name)
				}

				// The same code again, for the same amount or another.
				for _, amount := range []int64{1234, 777} {
					res, e = send(qrPurchase(t, 0, amount, code, nil))
					declined(fmt.Sprintf("%s shown again for %d", name, amount), res, e, "cryptogram replayed")
				}

				// A tampered cryptogram does not use up its ATC: the genuine
				// code is approved afterwards.
				code = qrCode(t, name, 2)
				res, e = send(qrPurchase(t, 0, 1234, code, func(v map[string][]byte) { v["9F26"][7] ^= 1 }))
				declined(name+" ARQC bit flipped", res, e, "ARQC does not verify")
				if res, e = send(qrPurchase(t, 0, 1234, code, nil)); res.ResponseCode != "00" {
					t.Fatalf("%s: genuine code after a tampered one: %+v (journal %+v)", name, res, e)
				}

				// An amount in 9F02 that is neither zero nor DE4.
				code = qrCode(t, name, 3)
				res, e = send(qrPurchase(t, 0, 1234, code, func(v map[string][]byte) { v["9F02"] = testhex.Must("000000000999") }))
				declined(name+" 9F02 not DE4", res, e, "amount in DE55 (9F02) neither zero nor DE4")

				// A declined QR payment's ATC is remembered too.
				code = qrCode(t, name, 4)
				if res, _ = send(qrPurchase(t, 0, 1051, code, nil)); res.ResponseCode != "51" {
					t.Fatalf("%s: amount 1051: %+v", name, res)
				}
				res, e = send(qrPurchase(t, 0, 1234, code, nil))
				declined(name+" declined code shown again", res, e, "cryptogram replayed")

				// A QR cryptogram sent as a chip's (DE22 051): its zero
				// amount is not DE4, as before.
				p := qrPurchase(t, 0, 1234, qrCode(t, name, 5), nil)
				p.EntryMode = "051"
				res, e = send(p)
				declined(name+" as chip", res, e, "amount in DE55 (9F02) differs from DE4")
			}
			r.stop()
			checkNoCardData(t, r, cards)
		})
	}
}

// TestQRChipRules: a QR payment whose cryptogram covers the amount (9F02
// = DE4) is approved; chip payments (DE22 051) keep their rules: 9F02 must
// equal DE4, and the same ARQC twice is not refused as a replay.
func TestQRChipRules(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip))
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			ctx := context.Background()
			card := chipCard(t, "visa-chip")
			ac := arqcCase{card: card, iss: deck.Issuers[card.Scheme], amount: 1234, atc: []byte{0x00, 0x31},
				un: []byte{1, 2, 3, 4}}
			icc, _, _, _ := ac.build(t)

			for i, mode := range []string{"031", "031", "051", "051"} {
				stan := uint32(i + 1)
				p := chipPurchase(t, nil, stan, ac, icc, "")
				p.EntryMode = mode
				res, err := c.Purchase(ctx, p, tm.session(t))
				if err != nil {
					t.Fatal(err)
				}
				want := "00"
				if i == 1 {
					want = acquirer.RCCardAuthFailed // the QR cryptogram again
				}
				e := journalIn(t, r, stan)
				if res.ResponseCode != want {
					t.Fatalf("#%d DE22 %s: %q, want %q (journal %+v)", i, mode, res.ResponseCode, want, e)
				}
				if i == 1 && !strings.Contains(e.Note, "cryptogram replayed") {
					t.Fatalf("#%d: journal %+v", i, e)
				}
			}

			// Chip: 9F02 zero is not DE4.
			zero := arqcCase{card: card, iss: deck.Issuers[card.Scheme], amount: 0, atc: []byte{0x00, 0x32},
				un: []byte{1, 2, 3, 4}}
			icc, _, _, _ = zero.build(t)
			p := chipPurchase(t, nil, 10, ac, icc, "")
			res, err := c.Purchase(ctx, p, tm.session(t))
			if err != nil {
				t.Fatal(err)
			}
			if e := journalIn(t, r, 10); res.ResponseCode != acquirer.RCCardAuthFailed || !strings.Contains(e.Note, "differs from DE4") {
				t.Fatalf("chip, 9F02 zero: %q %+v", res.ResponseCode, e)
			}
			// QR: the same is accepted.
			p = chipPurchase(t, nil, 11, ac, icc, "")
			p.EntryMode = "032"
			if res, err = c.Purchase(ctx, p, tm.session(t)); err != nil || res.ResponseCode != "00" {
				t.Fatalf("QR, 9F02 zero: %+v %v (journal %+v)", res, err, journalIn(t, r, 11))
			}
		})
	}
}
