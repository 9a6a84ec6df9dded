package txn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"posd/terminal/host"
	"posd/terminal/store"

	"github.com/moov-io/bertlv"
)

// testCPM is an EMV consumer-presented payload (base64 BER-TLV) with a
// track 2 equivalent and a cryptogram, as a phone shows it.
func testCPM(t *testing.T, track2 string) string {
	t.Helper()
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := bertlv.Encode([]bertlv.TLV{
		bertlv.NewTag("85", []byte("CPV01")),
		bertlv.NewComposite("61",
			bertlv.NewTag("4F", h("A000000333010101")),
			bertlv.NewTag("57", h(track2)),
			bertlv.NewTag("5F34", h("01")),
			bertlv.NewTag("82", h("1980")),
			bertlv.NewTag("9F36", h("0007")),
			bertlv.NewTag("9F26", h("1122334455667788")),
			bertlv.NewTag("9F27", h("80")),
			bertlv.NewTag("9F10", h("07010103A00000")),
			bertlv.NewTag("9F37", h("CAFEBABE")),
			bertlv.NewTag("9F02", h("000000000000")),
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestCPMSaleGoesOnline(t *testing.T) {
	var sent []host.Purchase
	h := &fakeHost{purchase: func(p host.Purchase) (host.Result, error) {
		// The engine wipes the card data after the exchange: keep a copy.
		p.Track2, p.ICC = bytes.Clone(p.Track2), bytes.Clone(p.ICC)
		sent = append(sent, p)
		return host.Result{ResponseCode: "00", AuthCode: "Q1W2E3"}, nil
	}}
	w := &fakeWallets{}
	codes := &fakeCodes{codes: make(chan string, 2)}
	e, _, _ := setupWith(t, h, func(o *Opts) { o.Codes, o.Wallet = codes, w })
	const t2 = "6212345678901234D3012201123456789F"
	got := payByCode(t, e, codes, testCPM(t, t2))
	if got.State != store.StateApproved || got.EntryMode != entryModeQR || got.Wallet != nil || got.STAN == 0 ||
		got.MaskedPAN != "621234******1234" {
		t.Fatalf("CPM sale: %+v", got)
	}
	if len(sent) != 1 || len(w.paid) != 0 {
		t.Fatalf("sent to the host %d, to a wallet platform %v", len(sent), w.paid)
	}
	p := sent[0]
	if p.EntryMode != "031" || !strings.HasPrefix(string(p.Track2), "6212345678901234D3012") || len(p.PINBlock) != 0 {
		t.Fatalf("request: entry %q track2 %d bytes pin %d", p.EntryMode, len(p.Track2), len(p.PINBlock))
	}
	if !bytes.Contains(p.ICC, []byte{0x9F, 0x26, 0x08, 0x11, 0x22}) || bytes.Contains(p.ICC, []byte{0x57}) && bytes.Contains(p.ICC, []byte{0x62, 0x12, 0x34}) {
		t.Fatalf("DE55 %X: want the cryptogram and no card data", p.ICC)
	}
	// The record and its JSON keep no track data.
	if strings.Contains(got.Error+got.MaskedPAN, "6212345678901234") {
		t.Fatalf("record keeps the PAN: %+v", got)
	}
	// Expired card data: refused, nothing sent.
	exp := payByCode(t, e, codes, testCPM(t, "6212345678901234D2001201123456789F"))
	if exp.State != store.StateFailed || Failure(exp.Failure) != FailCardExpired || len(sent) != 1 {
		t.Fatalf("expired CPM: %+v, sent %d", exp, len(sent))
	}
	// Track 2 data that is not digits (a nibble A, B, C or E in the PAN
	// or the expiry): not a payment code, nothing sent.
	for _, t2 := range []string{"6212345678901A34D3012201123456789F", "6212345678901234D30B2201123456789F"} {
		junk := payByCode(t, e, codes, testCPM(t, t2))
		if junk.State != store.StateFailed || Failure(junk.Failure) != FailNotPaymentCode || len(sent) != 1 {
			t.Fatalf("CPM with track 2 %s: %+v, sent %d", t2, junk, len(sent))
		}
	}
	// A CPM without a track 2 equivalent: not a payment code, nothing sent.
	b, _ := bertlv.Encode([]bertlv.TLV{bertlv.NewTag("85", []byte("CPV01")), bertlv.NewComposite("61", bertlv.NewTag("4F", []byte{0xA0, 0, 0, 3, 0x33}))})
	bad := payByCode(t, e, codes, base64.StdEncoding.EncodeToString(b))
	if bad.State != store.StateFailed || Failure(bad.Failure) != FailNotPaymentCode || len(sent) != 1 {
		t.Fatalf("CPM without card data: %+v, sent %d", bad, len(sent))
	}
}

func TestCPMWithoutWalletPlatforms(t *testing.T) {
	h := approveAll()
	codes := &fakeCodes{codes: make(chan string, 2)}
	e, _, _ := setupWith(t, h, func(o *Opts) { o.Codes = codes })
	got := payByCode(t, e, codes, testCPM(t, "6212345678901234D3012201123456789F"))
	if got.State != store.StateApproved {
		t.Fatalf("CPM on a terminal without wallets: %+v", got)
	}
	w := payByCode(t, e, codes, wechatCode)
	if w.State != store.StateFailed || Failure(w.Failure) != FailNotPaymentCode {
		t.Fatalf("wechat code without wallets: %+v", w)
	}
}

// A phone's EMV code carries a card and goes to the acquirer, naming the
// batch in cup: while the last close got no answer it is held as a card
// is (the host would decline it 77), nothing sent; a wallet code is not.
func TestCPMHeldAfterALostClose(t *testing.T) {
	var sent int
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) { sent++; return host.Result{ResponseCode: "00"}, nil }}
	h.settle = func(host.Settlement) (host.Result, error) { return host.Result{}, host.ErrNoResponse }
	w := &fakeWallets{}
	codes := &fakeCodes{codes: make(chan string, 2)}
	e, r, _ := setupWith(t, batchNamingHost{h}, func(o *Opts) { o.Codes, o.Wallet = codes, w })
	run(t, e, r, Request{Amount: 230, Currency: "156"}) // a card sale: the batch has something to close
	sent = 0
	if _, err := e.CloseBatch(context.Background()); err == nil {
		t.Fatal("a close without an answer succeeded")
	}
	if _, id := e.LostClose(); id == "" {
		t.Fatal("no close in doubt")
	}
	got := payByCode(t, e, codes, testCPM(t, "6212345678901234D3012201123456789F"))
	if got.State != store.StateFailed || Failure(got.Failure) != FailSettleAgain || sent != 0 {
		t.Fatalf("EMV code after the lost close: %+v, %d sent", got, sent)
	}
}
