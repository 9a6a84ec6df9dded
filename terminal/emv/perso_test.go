package emv

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	cemv "posd/crypto/emv"
)

var testDate = time.Date(2025, 6, 15, 10, 30, 0, 0, time.UTC)

func testConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := LoadParams([]byte(testParams))
	if err != nil {
		t.Fatalf("LoadParams: %v", err)
	}
	addTestCA(t, &cfg)
	return cfg
}

// addTestCA adds the test CA's key under the Visa, Mastercard and
// UnionPay RIDs.
func addTestCA(t testing.TB, cfg *Config) {
	t.Helper()
	for _, rid := range [][5]byte{{0xA0, 0, 0, 0, 0x03}, {0xA0, 0, 0, 0, 0x04}, {0xA0, 0, 0, 0x03, 0x33}} {
		k := getPKI(t).ca.CAPK()
		k.RID = rid
		k.Checksum = k.ComputeChecksum()
		if err := cfg.AddCAPKs(k); err != nil {
			t.Fatalf("AddCAPKs: %v", err)
		}
	}
}

// logBuf collects log output for the no-card-data checks.
type logBuf struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

func testKernel(t testing.TB, cfg Config, logs *logBuf) *Kernel {
	o := Opts{Clock: clock.NewFake(testDate), Rand: rand.NewChaCha8([32]byte{1})}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return New(cfg, o)
}

// testUI answers the kernel's prompts from a script.
type testUI struct {
	pick     int
	selErr   error
	offered  [][]Candidate
	pins     [][]byte // blocks returned in order; nil entry: bypass
	pinReqs  []OfflinePINRequest
	messages []Message
	online   error
	onlineN  int
}

func (u *testUI) Select(_ context.Context, c []Candidate) (int, error) {
	u.offered = append(u.offered, c)
	return u.pick, u.selErr
}
func (u *testUI) Message(_ context.Context, m Message) { u.messages = append(u.messages, m) }
func (u *testUI) OfflinePIN(_ context.Context, r OfflinePINRequest) ([]byte, error) {
	u.pinReqs = append(u.pinReqs, r)
	if len(u.pins) == 0 {
		return nil, errors.New("no more PINs in the script")
	}
	p := u.pins[0]
	u.pins = u.pins[1:]
	if p == nil {
		return nil, ErrPINBypass
	}
	return bytes.Clone(p), nil
}
func (u *testUI) OnlinePIN(context.Context) error { u.onlineN++; return u.online }

func (u *testUI) saw(m Message) bool {
	for _, x := range u.messages {
		if x == m {
			return true
		}
	}
	return false
}

var (
	rightPIN = h("241234FFFFFFFFFF")
	wrongPIN = h("249999FFFFFFFFFF")
)

// cardOpts vary a personalised contact card.
type cardOpts struct {
	aid        string
	label      string
	oda        string // none, sda, dda, cda
	aip        []byte // overrides the one of oda
	pan        string
	certPAN    string // PAN in the ICC certificate
	issuerID   string // PAN prefix of the issuer certificate
	issuerExp  cemv.MonthYear
	iccExp     cemv.MonthYear
	capkIndex  byte
	drop       []tag // objects left out of the records
	rec1Extra  [][]byte
	rec2Extra  [][]byte
	cvmList    []byte
	tamper     string // ssad, icccert, issuercert
	tagList    bool   // 9F4A = 82
	cdol2      []byte
	pinKey     bool // a separate PIN encipherment key (9F2D)
	oddRecord  bool // the ODA record is in SFI 11 (signed whole)
	appVersion []byte
}

const (
	cdol1Hex = "9F02069F03069F1A0295055F2A029A039C019F37049F35019F34039F4C08"
	cdol2Hex = "8A029F02069F03069F1A0295055F2A029A039C019F3704"
	pdolHex  = "9F02065F2A02"
)

// newContactCard personalises a contact card: SFI 1 record 1 is signed
// for ODA, SFI 2 record 1 holds the certificates.
func newContactCard(t testing.TB, o cardOpts) (*testCard, *testApp) {
	t.Helper()
	p := getPKI(t)
	if o.aid == "" {
		o.aid = "A0000000031010"
	}
	if o.label == "" {
		o.label = "VISA CREDIT"
	}
	if o.pan == "" {
		o.pan = testPAN
	}
	if o.certPAN == "" {
		o.certPAN = o.pan
	}
	if o.issuerID == "" {
		o.issuerID = o.pan[:6]
	}
	if o.issuerExp == (cemv.MonthYear{}) {
		o.issuerExp = cemv.MonthYear{0x12, 0x30}
	}
	if o.iccExp == (cemv.MonthYear{}) {
		o.iccExp = cemv.MonthYear{0x12, 0x29}
	}
	if o.capkIndex == 0 {
		o.capkIndex = 0xF1
	}
	if o.cvmList == nil {
		// X = Y = 0: offline plaintext PIN, else signature, else no CVM.
		o.cvmList = h("00000000 00000000 4103 5E03 1F03")
	}
	if o.appVersion == nil {
		o.appVersion = h("0096")
	}
	if o.cdol2 == nil {
		o.cdol2 = h(cdol2Hex)
	}
	aip := map[string][]byte{"none": h("1C00"), "sda": h("5C00"), "dda": h("3C00"), "cda": h("1D00")}[o.oda]
	if o.aip != nil {
		aip = o.aip
	}
	dropped := func(t tag) bool {
		for _, d := range o.drop {
			if d == t {
				return true
			}
		}
		return false
	}
	obj := func(t string, v []byte) []byte {
		tg, _ := parseTag(t)
		if dropped(tg) {
			return nil
		}
		return tlv(t, v)
	}
	panField := bcdPAN(o.pan)
	rec1 := [][]byte{
		obj("5A", panField), obj("5F24", h("291231")), obj("5F25", h("200101")), obj("5F34", h("01")),
		obj("5F28", h("0156")), obj("9F07", h("FF00")), obj("9F08", o.appVersion),
		obj("8C", h(cdol1Hex)), obj("8D", o.cdol2), obj("8E", o.cvmList),
		obj("9F0D", h("0000000000")), obj("9F0E", h("0000000000")), obj("9F0F", h("0000000000")),
		obj("57", h(o.pan+"D29122010123456789")),
		obj("9F42", h("0156")), obj("5F30", h("0201")),
	}
	rec1 = append(rec1, o.rec1Extra...)
	rec1Bytes := tpl("70", rec1...)
	var static []byte
	if o.oddRecord {
		static = append(static, rec1Bytes...)
	} else {
		static = append(static, bytes.Join(rec1, nil)...)
	}
	if o.tagList {
		static = append(static, aip...)
	}
	var rec2, rec3, rec4 [][]byte
	if o.oda != "none" {
		id, _ := cemv.IssuerIDFromPAN(o.issuerID, len(o.issuerID))
		icert, irem, err := p.ca.SignIssuerCert(&cemv.IssuerPublicKey{PublicKey: p.issuer.PublicKey, IssuerID: id,
			Expiry: o.issuerExp, SerialNumber: [3]byte{0, 0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		if o.tamper == "issuercert" {
			icert[10] ^= 1
		}
		rec2 = append(rec2, obj("8F", []byte{o.capkIndex}), obj("90", icert), obj("9F32", h("03")))
		if irem != nil {
			rec2 = append(rec2, obj("92", irem))
		}
		if o.tagList {
			rec2 = append(rec2, obj("9F4A", h("82")))
		}
		if o.oda == "sda" {
			ssad, err := cemv.SignSSAD(p.issuer, [2]byte{0xDA, 0xC1}, static)
			if err != nil {
				t.Fatal(err)
			}
			if o.tamper == "ssad" {
				ssad[20] ^= 1
			}
			rec3 = append(rec3, obj("93", ssad))
		} else {
			pan, _ := cemv.PANField(o.certPAN)
			ccert, crem, err := cemv.SignICCCert(p.issuer, &cemv.ICCPublicKey{PublicKey: p.icc.PublicKey, PAN: pan,
				Expiry: o.iccExp, SerialNumber: [3]byte{0, 0, 2}}, static)
			if err != nil {
				t.Fatal(err)
			}
			if o.tamper == "icccert" {
				ccert[30] ^= 1
			}
			rec3 = append(rec3, obj("9F46", ccert), obj("9F47", h("03")))
			if crem != nil {
				rec3 = append(rec3, obj("9F48", crem))
			}
			rec3 = append(rec3, obj("9F49", h("9F3704")))
		}
		if o.pinKey {
			pan, _ := cemv.PANField(o.certPAN)
			pcert, prem, err := cemv.SignICCCert(p.issuer, &cemv.ICCPublicKey{PublicKey: p.pin.PublicKey, PAN: pan,
				Expiry: o.iccExp, SerialNumber: [3]byte{0, 0, 3}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec4 = append(rec4, obj("9F2D", pcert), obj("9F2E", h("010001")))
			if prem != nil {
				rec4 = append(rec4, obj("9F2F", prem))
			}
		}
	}
	rec4 = append(rec4, o.rec2Extra...)
	a := &testApp{
		aid: h(o.aid), label: o.label, pdol: h(pdolHex), aip: [2]byte{aip[0], aip[1]},
		cdol1: h(cdol1Hex), cdol2: o.cdol2, iad: h("06010A03A00000"), atc: 0x0010, lastOnl: 0x000C,
		pinBlock: rightPIN, ptc: 3, arpc: h("1122334455667788" + "3030"), records: map[[2]byte][]byte{},
	}
	sfi1 := byte(1)
	if o.oddRecord {
		sfi1 = 11
	}
	a.records[[2]byte{sfi1, 1}] = rec1Bytes
	a.afl = []byte{sfi1 << 3, 1, 1, 1}
	n := byte(0)
	for _, r := range [][][]byte{rec2, rec3, rec4} {
		if len(bytes.Join(r, nil)) > 0 {
			n++
			a.records[[2]byte{2, n}] = tpl("70", r...)
		}
	}
	if n > 0 {
		a.afl = append(a.afl, 2<<3, 1, n, 0)
	}
	c := &testCard{t: t, apps: []*testApp{a}, pse: true}
	return c, a
}

// bcdPAN packs a PAN as compressed numeric (F padded to whole bytes).
func bcdPAN(pan string) []byte {
	s := pan
	if len(s)%2 == 1 {
		s += "F"
	}
	return h(s)
}
